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
  assert.deepEqual(ids, ['llama-8b', 'gpt-4o-mini', 'text-embedding-3-small', 'tiny-first', 'tiny-units', 'flaky', 'limited', 'no-credit', 'claude-sonnet', 'claude-limited', 'bedrock-claude']);
});

test('one model retrieved, its id percent-encoded in the URL', async () => {
  const model = await client.models.retrieve('llama-8b');
  assert.equal(model.id, 'llama-8b');
  assert.equal(model.object, 'model');
  await assert.rejects(client.models.retrieve('org/no such model'),
    (error) => error instanceof OpenAI.NotFoundError && error.code === 'model_not_found');
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

// Structured output is generated in schema order: what the SDK sent reaches the upstream byte
// for byte (here the alias and the upstream model share a name, so nothing is rewritten).
test('a JSON schema reaches the upstream with its keys in the order written', async () => {
  const params = {
    model: 'gpt-4o-mini', messages, max_tokens: 2,
    response_format: {
      type: 'json_schema',
      json_schema: {
        name: 'answer', strict: true,
        schema: { type: 'object', properties: { reasoning: { type: 'string' }, answer: { type: 'string' } },
          required: ['reasoning', 'answer'], additionalProperties: false },
      },
    },
    metadata: { zeta: '1', alpha: '\u00e9' },
  };
  await client.chat.completions.create(params);
  const stats = await (await fetch(process.env.FULCRUM_SIM_STATS)).json();
  assert.equal(stats.cloud.last_body, JSON.stringify(params));
  const received = JSON.parse(stats.cloud.last_body);
  assert.deepEqual(Object.keys(received.response_format.json_schema.schema.properties), ['reasoning', 'answer']);
  assert.deepEqual(Object.keys(received.metadata), ['zeta', 'alpha']);
});

// The upstream's own request id reaches the SDK, which reports it as _request_id.
test('the upstream request id is the SDK _request_id', async () => {
  const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 1 });
  assert.match(completion._request_id, /^req_sim_\d+$/);
});

test('responses: plain, with usage under the Responses API names', async () => {
  const response = await client.responses.create({ model: 'gpt-4o-mini', input: 'one two three', max_output_tokens: 4 });
  assert.equal(response.object, 'response');
  assert.match(response.id, /^resp_cloud_\d+$/);
  assert.equal(response.output_text, 'Fulcrum routes tokens to ');
  assert.deepEqual([response.usage.input_tokens, response.usage.input_tokens_details.cached_tokens,
    response.usage.output_tokens, response.usage.total_tokens], [3, 1, 4, 7]);
  assert.match(response._request_id, /^req_sim_\d+$/);
});

test('responses: streamed events, and the stream helper final response', async () => {
  const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'one two', max_output_tokens: 3, stream: true });
  let text = '';
  const types = [];
  let usage = null;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed') usage = event.response.usage;
  }
  assert.equal(text, 'Fulcrum routes tokens ');
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
  assert.deepEqual([usage.input_tokens, usage.output_tokens], [2, 3]);

  const final = await client.responses.stream({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 2 }).finalResponse();
  assert.equal(final.output_text, 'Fulcrum routes ');
  assert.equal(final.status, 'completed');
});

test('responses: a conversation continued, then read, listed and deleted', async () => {
  const first = await client.responses.create({ model: 'gpt-4o-mini', input: 'one two three', max_output_tokens: 2 });
  // llama-8b prefers the GPU, but only the cloud endpoint stored the first response.
  const { data: next, response } = await client.responses
    .create({ model: 'llama-8b', input: 'four', previous_response_id: first.id, max_output_tokens: 1 })
    .withResponse();
  assert.equal(response.headers.get('x-fulcrum-endpoint'), 'cloud');
  assert.equal(response.headers.get('x-fulcrum-reason'), 'pinned:previous_response');
  assert.equal(next.previous_response_id, first.id);
  assert.equal(next.usage.input_tokens, 1 + 3 + 2);  // the stored conversation is input again

  const got = await client.responses.retrieve(first.id);
  assert.equal(got.output_text, first.output_text);
  const items = [];
  for await (const item of client.responses.inputItems.list(first.id)) items.push(item);
  assert.equal(items.length, 1);
  assert.equal(items[0].content[0].text, 'one two three');
  const deleted = await client.responses.delete(first.id);
  assert.deepEqual(deleted, { id: first.id, object: 'response.deleted', deleted: true });
  await assert.rejects(client.responses.retrieve(first.id),
    (error) => error instanceof OpenAI.NotFoundError && error.status === 404);
  await assert.rejects(
    client.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: 'resp_never' }),
    (error) => error instanceof OpenAI.NotFoundError && error.code === 'previous_response_not_found'
      && error.param === 'previous_response_id');
});

async function simRequests(endpoint) {
  const stats = await (await fetch(process.env.FULCRUM_SIM_STATS)).json();
  return stats[endpoint].requests;
}

test('a 429 with Retry-After reaches the SDK, which waits as told and retries', async () => {
  const patient = new OpenAI({ baseURL: process.env.FULCRUM_BASE_URL, apiKey: 'x', maxRetries: 2 });
  const started = performance.now();
  const completion = await patient.chat.completions.create({ model: 'limited', messages, max_tokens: 1 });
  const waited = performance.now() - started;
  assert.equal(completion.choices[0].message.content, 'Fulcrum ');
  assert.equal(await simRequests('limited'), 2);
  // Retry-After: 1 was passed on and honoured (the SDK's own backoff would be about 0.5 s).
  assert.ok(waited >= 950, `retried after ${waited} ms`);
});

test("an upstream's insufficient_quota reaches the SDK as a RateLimitError with that code", async () => {
  await assert.rejects(client.chat.completions.create({ model: 'no-credit', messages, max_tokens: 1 }),
    (error) => error instanceof OpenAI.RateLimitError && error.status === 429
      && error.code === 'insufficient_quota' && error.type === 'insufficient_quota');
  assert.equal(await simRequests('no-credit'), 1);
});

test('a spent budget is a RateLimitError insufficient_quota the SDK does not retry', async () => {
  const broke = new OpenAI({ baseURL: process.env.FULCRUM_BASE_URL, apiKey: process.env.E2E_BROKE_KEY, maxRetries: 2 });
  const before = await simRequests('cloud');
  const started = performance.now();
  await assert.rejects(broke.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 1 }),
    (error) => error instanceof OpenAI.RateLimitError && error.code === 'insufficient_quota'
      && error.headers.get('x-should-retry') === 'false' && Number(error.headers.get('retry-after')) > 0);
  // One attempt: no retry slept on a Retry-After of hours, none reached an upstream.
  assert.ok(performance.now() - started < 5000);
  assert.equal(await simRequests('cloud'), before);
});

// The same SDK, unchanged, served by an Anthropic endpoint and by AWS Bedrock's Converse API
// (signed with SigV4, streamed in binary frames): Fulcrum translates both ways.
const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { query: { type: 'string' } } } } }];
const translated = [
  // The Anthropic sim reads 1 prompt word from its cache and writes 1: 3 × 3 + 1 × 0.30 +
  // 1 × 3.75 + 6 × 15 USD per 1M tokens. Bedrock's sim has no cache: 5 × 3 + 6 × 15.
  { provider: 'Anthropic', model: 'claude-sonnet', cached: 1, cost: '0.00010305' },
  { provider: 'Bedrock', model: 'bedrock-claude', cached: 0, cost: '0.000105' },
];

for (const { provider, model, cached, cost } of translated) {
  test(`chat completion served by ${provider}`, async () => {
    const { data, response } = await client.chat.completions
      .create({ model, messages: [{ role: 'system', content: 'be brief' }, ...messages] })
      .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.content, 'Fulcrum routes tokens to the cheapest ');
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.deepEqual(
      [data.usage.prompt_tokens, data.usage.prompt_tokens_details?.cached_tokens ?? 0, data.usage.completion_tokens],
      [5, cached, 6]);
    assert.equal(response.headers.get('x-fulcrum-cost-usd'), cost);
  });

  test(`streamed chat completion served by ${provider}, with tool calls`, async () => {
    const stream = await client.chat.completions.create({
      model, messages, tools, stream: true, stream_options: { include_usage: true },
    });
    let args = '';
    let name = '';
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      finish = choice.finish_reason ?? finish;
      for (const call of choice.delta.tool_calls ?? []) {
        name = call.function?.name ?? name;
        args += call.function?.arguments ?? '';
      }
    }
    assert.equal(name, 'get_weather');
    assert.deepEqual(JSON.parse(args), { query: 'Fulcrum', limit: 1 });
    assert.equal(finish, 'tool_calls');
    assert.equal(usage.completion_tokens, 6 + 8);
  });
}

test('a feature Anthropic lacks is a 400 from Fulcrum', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'claude-sonnet', messages, n: 2 }),
    (error) => error instanceof OpenAI.BadRequestError && error.param === 'n');
});
