// LangChain JS's ChatOpenAI, pointed at Fulcrum, over the Responses API and Chat Completions.
// Run through with-stack.sh, which exports FULCRUM_BASE_URL and FULCRUM_SIM_STATS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';

const configuration = { baseURL: process.env.FULCRUM_BASE_URL };
const chat = (options) => new ChatOpenAI({
  model: 'gpt-4o-mini', apiKey: 'not-checked-in-open-auth-mode', maxRetries: 0, configuration, ...options,
});

async function simRequests(endpoint) {
  const stats = await (await fetch(process.env.FULCRUM_SIM_STATS)).json();
  return stats[endpoint].requests;
}

test('invoke over the Responses API, with usage metadata', async () => {
  const message = await chat({ useResponsesApi: true, maxTokens: 4 }).invoke('one two three');
  assert.equal(message.text, 'Fulcrum routes tokens to ');
  assert.deepEqual(message.usage_metadata.input_token_details, { cache_read: 1 });
  assert.deepEqual([message.usage_metadata.input_tokens, message.usage_metadata.output_tokens,
    message.usage_metadata.total_tokens], [3, 4, 7]);
  assert.match(message.response_metadata.id, /^resp_cloud_\d+$/);
});

test('stream over the Responses API', async () => {
  let merged;
  for await (const chunk of await chat({ useResponsesApi: true, maxTokens: 3 }).stream('one two')) {
    merged = merged ? merged.concat(chunk) : chunk;
  }
  assert.equal(merged.text, 'Fulcrum routes tokens ');
  assert.deepEqual([merged.usage_metadata.input_tokens, merged.usage_metadata.output_tokens], [2, 3]);
});

test('previous_response_id continues a conversation on the endpoint that stored it', async () => {
  const first = await chat({ useResponsesApi: true, maxTokens: 2 }).invoke('one two three');
  const next = await chat({ model: 'llama-8b', useResponsesApi: true, maxTokens: 1 })
    .invoke('four', { previous_response_id: first.response_metadata.id });
  assert.equal(next.text, 'Fulcrum ');
  assert.equal(next.usage_metadata.input_tokens, 1 + 3 + 2);  // the stored conversation is input again
});

test('invoke and stream over Chat Completions', async () => {
  const model = chat({ model: 'llama-8b', useResponsesApi: false, maxTokens: 4 });
  const message = await model.invoke('one two three');
  assert.equal(message.text, 'Fulcrum routes tokens to ');
  assert.deepEqual([message.usage_metadata.input_tokens, message.usage_metadata.output_tokens], [3, 4]);

  let merged;
  for await (const chunk of await model.stream('one two three')) merged = merged ? merged.concat(chunk) : chunk;
  assert.equal(merged.text, 'Fulcrum routes tokens to ');
  // LangChain asks for stream usage itself; Fulcrum passes it on.
  assert.deepEqual([merged.usage_metadata.input_tokens, merged.usage_metadata.output_tokens], [3, 4]);
});

test('embeddings', async () => {
  const embeddings = new OpenAIEmbeddings({
    model: 'text-embedding-3-small', apiKey: 'x', maxRetries: 0, configuration,
  });
  const vectors = await embeddings.embedDocuments(['a b', 'c']);
  assert.equal(vectors.length, 2);
  assert.equal(vectors[0].length, 8);
});

test('a 429 with Retry-After is a MODEL_RATE_LIMIT error LangChain retries', async () => {
  const message = await chat({ model: 'limited', maxRetries: 1, maxTokens: 1 }).invoke('x');
  assert.equal(message.text, 'Fulcrum ');
  assert.equal(await simRequests('limited'), 2);
});

test('a spent budget is an InsufficientQuotaError LangChain stops on', async () => {
  const before = await simRequests('cloud');
  await assert.rejects(
    chat({ apiKey: process.env.E2E_BROKE_KEY, maxRetries: 3, useResponsesApi: true }).invoke('x'),
    (error) => error.name === 'InsufficientQuotaError' && error.status === 429
      && error.lc_error_code === 'MODEL_RATE_LIMIT');
  assert.equal(await simRequests('cloud'), before);
});

// The upstream's own quota error (the account is out of credit) is passed on as its 429, so
// LangChain recognises it and stops instead of retrying.
test("an upstream's insufficient_quota is an InsufficientQuotaError LangChain stops on", async () => {
  await assert.rejects(chat({ model: 'no-credit', maxRetries: 3 }).invoke('x'),
    (error) => error.name === 'InsufficientQuotaError' && error.status === 429
      && error.code === 'insufficient_quota');
  assert.equal(await simRequests('no-credit'), 1);
});

test('an unknown model is a NotFoundError', async () => {
  await assert.rejects(chat({ model: 'no-such-model' }).invoke('x'),
    (error) => error.status === 404 && error.code === 'model_not_found');
});
