// The official OpenAI SDK, pointed at Fulcrum, works as it would against OpenAI.
// Run through with-stack.sh, which exports FULCRUM_BASE_URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: process.env.FULCRUM_BASE_URL,
  apiKey: 'not-checked-in-open-auth-mode',
  maxRetries: 0,
});
const messages = [{ role: 'user', content: 'one two three' }];

test('chat completion', async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'llama-8b', messages, max_tokens: 4 })
    .withResponse();
  assert.equal(data.choices[0].message.content, 'Fulcrum routes tokens to ');
  assert.equal(data.usage.prompt_tokens, 3);
  assert.equal(data.usage.completion_tokens, 4);
  assert.equal(response.headers.get('x-fulcrum-endpoint'), 'gpu');
  // Provisioned: no marginal cost; charged its share of 2.5 $/h at 2000 weighted tokens/s
  // (4 output tokens + 3 input tokens at weight 0.25), in whole nano-dollars.
  assert.equal(response.headers.get('x-fulcrum-marginal-cost-usd'), '0');
  const share = Math.round((2.5 * (4 + 0.25 * 3)) / (2000 * 3600) * 1e9);
  assert.equal(response.headers.get('x-fulcrum-cost-usd'), (share / 1e9).toFixed(9));
});

test('streamed chat completion', async () => {
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 6, stream: true });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, 'Fulcrum routes tokens to the cheapest ');
  assert.ok(chunks >= 7, `expected one chunk per token, got ${chunks}`);
});

test('streamed chat completion with usage', async () => {
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini', messages, max_tokens: 2, stream: true, stream_options: { include_usage: true },
  });
  let usage = null;
  for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
  assert.deepEqual([usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details.cached_tokens], [3, 2, 1]);
});

test('legacy completion', async () => {
  const completion = await client.completions.create({ model: 'gpt-4o-mini', prompt: 'say hi', max_tokens: 3 });
  assert.equal(completion.choices[0].text, 'Fulcrum routes tokens ');
});

test('embeddings', async () => {
  const result = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a b', 'c'] });
  assert.equal(result.data.length, 2);
  assert.equal(result.data[0].embedding.length, 8);
  assert.equal(result.usage.prompt_tokens, 3);
});

test('model list', async () => {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  assert.deepEqual(ids, ['llama-8b', 'gpt-4o-mini', 'text-embedding-3-small', 'tiny-first', 'flaky']);
});

test('unknown model raises NotFoundError', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages }),
    (error) => error instanceof OpenAI.NotFoundError && error.status === 404 && error.code === 'model_not_found',
  );
});

test('invalid request raises BadRequestError', async () => {
  await assert.rejects(
    client.embeddings.create({ model: 'text-embedding-3-small', input: 'x', stream: true }),
    (error) => error instanceof OpenAI.BadRequestError && error.status === 400,
  );
});
