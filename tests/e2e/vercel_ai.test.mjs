// The Vercel AI SDK, pointed at Fulcrum: its default OpenAI provider speaks the Responses API,
// `.chat()` and the openai-compatible provider speak Chat Completions.
// Run through with-stack.sh, which exports FULCRUM_BASE_URL and FULCRUM_SIM_STATS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APICallError, generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';

const settings = { baseURL: process.env.FULCRUM_BASE_URL, apiKey: 'not-checked-in-open-auth-mode' };
const openai = createOpenAI(settings);
const compatible = createOpenAICompatible({ name: 'fulcrum', includeUsage: true, ...settings });

async function simRequests(endpoint) {
  const stats = await (await fetch(process.env.FULCRUM_SIM_STATS)).json();
  return stats[endpoint].requests;
}

test('generateText on the default provider goes through /v1/responses', async () => {
  const result = await generateText({ model: openai('gpt-4o-mini'), prompt: 'one two three', maxOutputTokens: 4 });
  assert.equal(result.text, 'Fulcrum routes tokens to ');
  assert.equal(result.finishReason, 'stop');
  assert.equal(result.usage.inputTokens, 3);
  assert.equal(result.usage.outputTokens, 4);
  assert.equal(result.usage.inputTokenDetails.cacheReadTokens, 1);
  assert.match(result.providerMetadata.openai.responseId, /^resp_cloud_\d+$/);
  assert.equal(result.response.headers['x-fulcrum-endpoint'], 'cloud');
});

test('streamText on the default provider', async () => {
  const errors = [];
  const result = streamText({
    model: openai('gpt-4o-mini'), prompt: 'one two', maxOutputTokens: 3,
    onError: ({ error }) => errors.push(error),
  });
  let text = '';
  for await (const delta of result.textStream) text += delta;
  assert.deepEqual(errors, []);
  assert.equal(text, 'Fulcrum routes tokens ');
  const usage = await result.usage;
  assert.deepEqual([usage.inputTokens, usage.outputTokens], [2, 3]);
  assert.equal(await result.finishReason, 'stop');
});

test('a conversation continued with previousResponseId stays on the endpoint that stored it', async () => {
  const first = await generateText({ model: openai('gpt-4o-mini'), prompt: 'one two three', maxOutputTokens: 2 });
  const responseId = first.providerMetadata.openai.responseId;
  // llama-8b prefers the GPU, which never saw the first response.
  const next = await generateText({
    model: openai('llama-8b'), prompt: 'four', maxOutputTokens: 1,
    providerOptions: { openai: { previousResponseId: responseId } },
  });
  assert.equal(next.response.headers['x-fulcrum-endpoint'], 'cloud');
  assert.equal(next.response.headers['x-fulcrum-reason'], 'pinned:previous_response');
  assert.equal(next.usage.inputTokens, 1 + 3 + 2);  // the stored conversation is input again
});

test('openai.chat() speaks Chat Completions', async () => {
  const result = await generateText({ model: openai.chat('llama-8b'), prompt: 'one two three', maxOutputTokens: 4 });
  assert.equal(result.text, 'Fulcrum routes tokens to ');
  assert.equal(result.response.headers['x-fulcrum-endpoint'], 'gpu');
  assert.deepEqual([result.usage.inputTokens, result.usage.outputTokens], [3, 4]);
});

test('the openai-compatible provider streams with usage', async () => {
  const result = streamText({ model: compatible('gpt-4o-mini'), prompt: 'one two three', maxOutputTokens: 2 });
  let text = '';
  for await (const delta of result.textStream) text += delta;
  assert.equal(text, 'Fulcrum routes ');
  const usage = await result.usage;
  assert.deepEqual([usage.inputTokens, usage.outputTokens], [3, 2]);
});

test('a 429 with Retry-After is retried after the time the upstream asked', async () => {
  const started = performance.now();
  const result = await generateText({ model: openai('limited'), prompt: 'x', maxOutputTokens: 1, maxRetries: 1 });
  const waited = performance.now() - started;
  assert.equal(result.text, 'Fulcrum ');
  assert.equal(await simRequests('limited'), 2);
  // The SDK's own first backoff is 2 s; Retry-After: 1 made it 1 s.
  assert.ok(waited >= 950 && waited < 1900, `retried after ${waited} ms`);
});

test('an unknown model is a 404 APICallError that is not retried', async () => {
  await assert.rejects(generateText({ model: openai('no-such-model'), prompt: 'x' }), (error) =>
    APICallError.isInstance(error) && error.statusCode === 404 && error.isRetryable === false
      && /no-such-model/.test(error.message));
});

// Vercel retries every HTTP 429 (it reads neither the error code nor x-should-retry), so this
// checks what it is told: a 429 insufficient_quota that names the budget.
test('a spent budget is a 429 insufficient_quota', async () => {
  const broke = createOpenAI({ ...settings, apiKey: process.env.E2E_BROKE_KEY });
  const before = await simRequests('cloud');
  await assert.rejects(generateText({ model: broke('gpt-4o-mini'), prompt: 'x', maxRetries: 0 }), (error) =>
    APICallError.isInstance(error) && error.statusCode === 429
      && JSON.parse(error.responseBody).error.code === 'insufficient_quota'
      && error.responseHeaders['x-should-retry'] === 'false');
  assert.equal(await simRequests('cloud'), before);
});
