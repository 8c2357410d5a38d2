// The official Anthropic SDK (@anthropic-ai/sdk, which sends its key as a bearer token with
// anthropic-version 2026-10-21), pointed at Fulcrum: POST /v1/messages routed to an
// Anthropic endpoint (or Claude on Bedrock), relayed as Anthropic sent it, and refused in Anthropic's shape, so the
// SDK raises its own error classes. Run through with-stack.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';

// The SDK's base URL has no /v1: it appends /v1/messages itself.
const baseURL = process.env.FULCRUM_BASE_URL.replace(/\/v1$/, '');
const client = new Anthropic({ baseURL, apiKey: 'sk-any-client-open-auth', maxRetries: 0 });
const request = { max_tokens: 50, system: 'be brief', messages: [{ role: 'user', content: 'one two three' }] };

test('message', async () => {
  const { data, response } = await client.messages
    .create({ model: 'claude-sonnet', ...request })
    .withResponse();
  assert.equal(data.type, 'message');
  assert.equal(data.content[0].text, 'Fulcrum routes tokens to the cheapest ');
  assert.equal(data.stop_reason, 'end_turn');
  // Five prompt words: one read from the cache, one written to it, three plain.
  assert.deepEqual(
    [data.usage.input_tokens, data.usage.cache_read_input_tokens, data.usage.cache_creation_input_tokens, data.usage.output_tokens],
    [3, 1, 1, 6]);
  assert.equal(response.headers.get('x-fulcrum-endpoint'), 'claude');
  // 3 × 3 + 1 × 0.30 + 1 × 3.75 + 6 × 15 USD per 1M tokens: each bucket at its own price.
  assert.equal(response.headers.get('x-fulcrum-cost-usd'), '0.00010305');
});

// The same SDK calls answered by Claude on Bedrock, carried by InvokeModel (signed with SigV4)
// and its binary stream, back in Anthropic's own shape.
test('message from Claude on Bedrock', async () => {
  const { data, response } = await client.messages
    .create({ model: 'bedrock-claude', ...request })
    .withResponse();
  assert.equal(data.type, 'message');
  assert.equal(data.content[0].text, 'Fulcrum routes tokens to the cheapest ');
  assert.deepEqual([data.usage.input_tokens, data.usage.output_tokens], [5, 6]);
  assert.equal(response.headers.get('x-fulcrum-endpoint'), 'bedrock');
});

for (const model of ['claude-sonnet', 'bedrock-claude']) {
  test(`streamed message (${model})`, async () => {
    const stream = client.messages.stream({ model, ...request });
    let text = '';
    stream.on('text', (delta) => { text += delta; });
    const final = await stream.finalMessage();
    assert.equal(text, 'Fulcrum routes tokens to the cheapest ');
    assert.equal(final.usage.output_tokens, 6);
    assert.equal(final.stop_reason, 'end_turn');
  });
}

test('tool use', async () => {
  const message = await client.messages.create({
    model: 'claude-sonnet',
    ...request,
    tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { query: { type: 'string' } } } }],
    tool_choice: { type: 'any', disable_parallel_tool_use: true },
  });
  assert.equal(message.stop_reason, 'tool_use');
  const uses = message.content.filter((block) => block.type === 'tool_use');
  assert.equal(uses.length, 1);
  assert.deepEqual(uses[0].input, { query: 'Fulcrum', limit: 1 });
});

test('errors raise the SDK\'s own classes', async () => {
  await assert.rejects(client.messages.create({ model: 'claude-limited', ...request }), (error) => {
    assert.ok(error instanceof Anthropic.RateLimitError, error.constructor.name);
    assert.equal(error.error.error.type, 'rate_limit_error');
    assert.equal(error.headers.get('retry-after'), '1');
    return true;
  });
  await assert.rejects(client.messages.create({ model: 'no-such-model', ...request }), Anthropic.NotFoundError);
  // An alias with no Anthropic target cannot take Anthropic's API.
  await assert.rejects(client.messages.create({ model: 'gpt-4o-mini', ...request }), (error) => {
    assert.ok(error instanceof Anthropic.BadRequestError, error.constructor.name);
    assert.match(error.message, /messages/);
    return true;
  });
  // A spent budget: a 429 whose Retry-After is hours away and that the SDK is told not to
  // retry (x-should-retry: false). A retry would sleep those hours; one attempt returns now.
  const broke = new Anthropic({ baseURL, apiKey: process.env.E2E_BROKE_KEY, maxRetries: 2 });
  const started = Date.now();
  await assert.rejects(broke.messages.create({ model: 'claude-sonnet', ...request }), (error) => {
    assert.ok(error instanceof Anthropic.RateLimitError, error.constructor.name);
    assert.equal(error.headers.get('x-should-retry'), 'false');
    assert.ok(Number(error.headers.get('retry-after')) > 60);
    return true;
  });
  assert.ok(Date.now() - started < 5000, 'not retried');
});
