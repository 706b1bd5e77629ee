// Bad requests get the OpenAI error shape with the right status and never hurt the server: malformed JSON,
// wrong-typed fields, an unknown model, negative max_tokens, a prompt over the limit (400), a missing or
// wrong API key (401), a body over the limit (413), an unknown route (404), an internal error (500, and the
// next request is served); random JSON bodies never crash it.
import fc from 'fast-check';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../../src/index.ts';
import { expectedText, loadDemo, start, type Demo, type Running } from './helpers.ts';

let d: Demo;
let r: Running;
const PLANTED = 4000; // a token id whose prefill throws in the faulty model below

beforeAll(async () => {
  d = await loadDemo();
  const m = d.model;
  const faulty: Model = {
    config: m.config,
    backend: m.backend,
    forward: (ids) => m.forward(ids),
    createState: () => m.createState(),
    prefill: (s, ids) => {
      if (Array.from(ids).includes(PLANTED)) throw new Error('planted fault');
      return m.prefill(s, ids);
    },
    step: (s, id) => m.step(s, id),
    stepBatch: (s, ids) => m.stepBatch(s, ids),
    saveState: (s) => m.saveState(s),
    loadState: (b) => m.loadState(b),
    dispose: () => {},
  };
  r = await start({ ...d, model: faulty }, { maxPromptTokens: 64, maxBodyBytes: 4096 });
});
afterAll(async () => {
  await r?.server.close({ graceMs: 0 });
  await d?.model.dispose();
});

async function post(path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: { error: { message: string; type: string; param: string | null; code: string | null } } }> {
  const res = await fetch(`${r.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.status, json: (await res.json()) as never };
}

function expectShape(e: { error: Record<string, unknown> }): void {
  expect(Object.keys(e.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof e.error.message).toBe('string');
}

describe('400 with the OpenAI error shape', () => {
  const chat = (extra: Record<string, unknown>) => JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, ...extra });
  const cases: Array<[string, string, string | null]> = [
    ['malformed JSON', '{"messages": [', null],
    ['a body that is not an object', '[1, 2]', null],
    ['temperature of the wrong type', chat({ temperature: 'hot' }), 'temperature'],
    ['negative max_tokens', chat({ max_tokens: -1 }), 'max_tokens'],
    ['fractional max_tokens', chat({ max_tokens: 1.5 }), 'max_tokens'],
    ['messages missing', JSON.stringify({ model: 'demo' }), 'messages'],
    ['a message without a role', chat({ messages: [{ content: 'x' }] }), 'messages[0].role'],
    ['stop with 5 strings', chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop'],
    ['top_p out of range', chat({ top_p: 0 }), 'top_p'],
    ['n of the wrong type', chat({ n: '2' }), 'n'],
    ['stream of the wrong type', chat({ stream: 'yes' }), 'stream'],
    ['top_logprobs without logprobs', chat({ top_logprobs: 2 }), 'top_logprobs'],
    ['a prompt over --max-prompt-tokens', chat({ messages: [{ role: 'user', content: 'word '.repeat(200) }] }), 'messages'],
  ];
  for (const [what, body, param] of cases) {
    it(what, async () => {
      const res = await post('/v1/chat/completions', body);
      expect(res.status).toBe(400);
      expectShape(res.json);
      expect(res.json.error.type).toBe('invalid_request_error');
      expect(res.json.error.param).toBe(param);
    });
  }

  it('an unknown model is 400 model_not_found; through the openai client a BadRequestError', async () => {
    const res = await post('/v1/chat/completions', chat({ model: 'gpt-9' }));
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('model_not_found');
    await expect(r.client.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'Hi' }] })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('completions: a token id outside the vocabulary, an empty prompt, a prompt of the wrong type', async () => {
    for (const prompt of [[1, 2, 99999], [], { text: 'x' }, [1, 'a']]) {
      const res = await post('/v1/completions', JSON.stringify({ model: 'demo', prompt }));
      expect(res.status, JSON.stringify(prompt)).toBe(400);
      expect(res.json.error.param).toMatch(/^prompt/);
    }
  });
});

describe('other statuses', () => {
  it('a body over the size limit is 413', async () => {
    const res = await post('/v1/completions', JSON.stringify({ prompt: 'x'.repeat(10_000) }));
    expect(res.status).toBe(413);
    expectShape(res.json);
  });

  it('an unknown route is 404 in the same shape', async () => {
    const res = await fetch(`${r.url}/v1/embeddings`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expectShape((await res.json()) as never);
  });

  it('an internal error is 500 for that request only; the next request is served', async () => {
    const res = await post('/v1/completions', JSON.stringify({ prompt: [1, 2, PLANTED], max_tokens: 2 }));
    expect(res.status).toBe(500);
    expect(res.json.error.type).toBe('server_error');
    expect(res.json.error.message).toContain('planted fault');
    const ok = await r.client.completions.create({ model: 'demo', prompt: 'Hello', max_tokens: 4, temperature: 0 });
    expect(ok.choices[0].text).toBe((await expectedText(d, 'Hello', 4, [...d.generation.eosTokenIds])).text);
  });

  it('an internal error mid-stream ends the stream with an error event the openai client raises', async () => {
    const stream = await r.client.completions.create({ model: 'demo', prompt: [1, 2, PLANTED], max_tokens: 2, stream: true });
    await expect((async () => {
      for await (const _ of stream);
    })()).rejects.toThrow(/planted fault/);
  });

  it('with --api-key, no key or a wrong key is 401; the right key passes; /health stays open', async () => {
    const s = await start(d, { apiKey: 'sesame' });
    try {
      for (const auth of [undefined, 'Bearer wrong', 'sesame']) {
        const res = await fetch(`${s.url}/v1/models`, { headers: auth ? { authorization: auth } : {} });
        expect(res.status).toBe(401);
        const body = (await res.json()) as { error: Record<string, unknown> };
        expectShape(body);
        expect(body.error.type).toBe('authentication_error');
      }
      expect((await s.client.models.list()).data[0].id).toBe('demo');
      const bad = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
      await expect(bad.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
    } finally {
      await s.server.close({ graceMs: 0 });
    }
  });
});

it('random JSON bodies on every POST route get a 200 or a 4xx in the error shape, never a crash', async () => {
  const field = fc.oneof(fc.constant(undefined), fc.integer({ min: -5, max: 5 }), fc.double(), fc.string({ maxLength: 6 }), fc.boolean(), fc.constant(null), fc.array(fc.integer({ min: -2, max: 5000 }), { maxLength: 4 }), fc.array(fc.string({ maxLength: 3 }), { maxLength: 5 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.integer()));
  const body = fc.record({
    prompt: field, messages: fc.oneof(field, fc.constant([{ role: 'user', content: 'x' }]), fc.array(fc.record({ role: field, content: field }), { maxLength: 2 })),
    max_tokens: field, temperature: field, top_p: field, top_k: field, stop: field, n: field, logprobs: field, top_logprobs: field, echo: field, stream: field,
    seed: field, stream_options: field, tokens: field, content: field, frequency_penalty: field, min_p: field,
  }, { requiredKeys: [] });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('/v1/chat/completions', '/v1/completions', '/tokenize', '/detokenize'), body, async (path, b) => {
      const res = await fetch(`${r.url}${path}`, { method: 'POST', body: JSON.stringify({ ...b, max_tokens: typeof b.max_tokens === 'number' ? Math.min(b.max_tokens, 3) : 2, n: 1, stream: false }) });
      const json = (await res.json()) as { error?: Record<string, unknown> };
      if (res.status !== 200) {
        expect(res.status, JSON.stringify(json)).toBeGreaterThanOrEqual(400);
        expect(res.status, JSON.stringify(json)).toBeLessThan(500);
        expectShape(json as never);
      }
    }),
    { numRuns: 150, seed: 16 },
  );
  expect((await fetch(`${r.url}/health`)).status).toBe(200);
});
