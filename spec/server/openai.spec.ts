// The server through the official `openai` client: chat and completions, whole and streamed, equal the
// library's greedy generate() on the same prompt; log-probs equal log-softmax of model.forward; n > 1 forks
// equal generate() with seeds seed+i; a second turn reuses the first turn's state (cached_tokens).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, type ChatMessage } from '../../src/index.ts';
import { chatEos, chatPrompt, expectedText, loadDemo, start, type Demo, type Running } from './helpers.ts';

let d: Demo;
let r: Running;

beforeAll(async () => {
  d = await loadDemo();
  r = await start(d);
});
afterAll(async () => {
  await r?.server.close({ graceMs: 0 });
  await d?.model.dispose();
});

const HELLO: ChatMessage[] = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Tell me about the sea.' }];

describe('POST /v1/chat/completions through the openai client', () => {
  it('greedy, whole: the text and finish reason of generate() on the rendered prompt; usage counts the tokens', async () => {
    const want = await expectedText(d, chatPrompt(d, HELLO), 40, chatEos(d));
    const res = await r.client.chat.completions.create({ model: 'demo', messages: HELLO as never, max_tokens: 40, temperature: 0 });
    expect(res.object).toBe('chat.completion');
    expect(res.choices[0].message.content).toBe(want.text);
    expect(res.choices[0].finish_reason).toBe(want.finish);
    expect(res.usage?.completion_tokens).toBe(want.tokens.length);
    expect(res.usage?.prompt_tokens).toBe(d.files.tokenizer.encode(chatPrompt(d, HELLO)).length);
    expect(res.usage?.total_tokens).toBe(res.usage!.prompt_tokens + res.usage!.completion_tokens);
  });

  it('streamed: the deltas concatenate to the same text; the usage chunk comes last with include_usage', async () => {
    const want = await expectedText(d, chatPrompt(d, HELLO), 30, chatEos(d));
    const stream = await r.client.chat.completions.create({ model: 'demo', messages: HELLO as never, max_tokens: 30, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: { completion_tokens: number } | null | undefined;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      expect(usage).toBeFalsy(); // nothing after the usage chunk
      if (c.choices.length > 0) {
        text += c.choices[0].delta.content ?? '';
        finish = c.choices[0].finish_reason ?? finish;
      }
      usage = c.usage;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(text).toBe(want.text);
    expect(finish).toBe(want.finish);
    expect(usage?.completion_tokens).toBe(want.tokens.length);
  });

  it('a stop string ends the reply before it (finish_reason stop), as generate() with the same stop', async () => {
    const free = await expectedText(d, chatPrompt(d, HELLO), 40, chatEos(d));
    const stop = free.text.slice(8, 11); // a piece of the greedy text, so the stop is certain to be met
    const want = await expectedText(d, chatPrompt(d, HELLO), 40, chatEos(d), { stop: [stop] });
    const res = await r.client.chat.completions.create({ model: 'demo', messages: HELLO as never, max_tokens: 40, temperature: 0, stop });
    expect(res.choices[0].message.content).toBe(want.text);
    expect(res.choices[0].message.content!.length).toBeLessThan(free.text.length);
    expect(res.choices[0].finish_reason).toBe('stop');
  });

  it('n = 2 with a seed forks the state after the prompt: choice i equals generate() with seed + i', async () => {
    const opts = { temperature: 0.9, topP: 0.95 };
    const want = await Promise.all([0, 1].map(async (i) => expectedText(d, chatPrompt(d, HELLO), 20, chatEos(d), { ...opts, seed: 11 + i })));
    expect(want[0].text).not.toBe(want[1].text);
    const res = await r.client.chat.completions.create({ model: 'demo', messages: HELLO as never, max_tokens: 20, temperature: 0.9, top_p: 0.95, seed: 11, n: 2 });
    expect(res.choices.map((c) => c.message.content)).toEqual(want.map((w) => w.text));
    expect(res.usage?.completion_tokens).toBe(want[0].tokens.length + want[1].tokens.length);
  });

  it('logprobs: each chosen token is the greedy top-1 and its logprob equals log-softmax of the model logits', async () => {
    const res = await r.client.chat.completions.create({ model: 'demo', messages: HELLO as never, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = res.choices[0].logprobs!.content!;
    expect(content).toHaveLength(6);
    for (const t of content) {
      expect(t.top_logprobs).toHaveLength(3);
      expect(t.top_logprobs[0].token).toBe(t.token);
      expect(t.top_logprobs[0].logprob).toBe(t.logprob);
      expect(t.top_logprobs[1].logprob).toBeLessThanOrEqual(t.top_logprobs[0].logprob);
      expect(new TextDecoder().decode(new Uint8Array(t.bytes!))).toBe(t.token);
    }
  });

  it('turn 2 reuses the state at the end of turn 1 (cached_tokens) and answers what a full re-read answers', async () => {
    const first = await r.client.chat.completions.create({ model: 'demo', messages: HELLO as never, max_tokens: 12, temperature: 0 });
    const history: ChatMessage[] = [...HELLO, { role: 'assistant', content: first.choices[0].message.content! }, { role: 'user', content: 'And the mountains?' }];
    const want = await expectedText(d, chatPrompt(d, history), 20, chatEos(d));
    const second = await r.client.chat.completions.create({ model: 'demo', messages: history as never, max_tokens: 20, temperature: 0 });
    expect(second.choices[0].message.content).toBe(want.text);
    const cached = second.usage!.prompt_tokens_details!.cached_tokens!;
    // The whole of turn 1 with its reply is reused: everything but the new user message and the generation prompt.
    const turn1 = d.files.tokenizer.encode(chatPrompt(d, HELLO)).length + first.usage!.completion_tokens;
    expect(cached).toBeGreaterThanOrEqual(turn1);
    expect(second.usage!.prompt_tokens - cached).toBeLessThan(20);
  });
});

describe('POST /v1/completions through the openai client', () => {
  it('a string prompt, whole and streamed, equals generate(); token ids give the same', async () => {
    const prompt = 'The old man and the sea';
    const want = await expectedText(d, prompt, 24, [...d.generation.eosTokenIds]);
    const res = await r.client.completions.create({ model: 'demo', prompt, max_tokens: 24, temperature: 0 });
    expect(res.choices[0].text).toBe(want.text);
    expect(res.choices[0].finish_reason).toBe(want.finish);
    const ids = d.files.tokenizer.encode(prompt);
    const byIds = await r.client.completions.create({ model: 'demo', prompt: ids, max_tokens: 24, temperature: 0 });
    expect(byIds.choices[0].text).toBe(want.text);
    const stream = await r.client.completions.create({ model: 'demo', prompt, max_tokens: 24, temperature: 0, stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.text ?? '';
    expect(text).toBe(want.text);
  });

  it('echo + logprobs (what lm-evaluation-harness sends): the prompt tokens scored as log-softmax of model.forward', async () => {
    const prompt = 'Once upon a time there was a';
    const ids = d.files.tokenizer.encode(prompt);
    const res = await r.client.completions.create({ model: 'demo', prompt: [ids], max_tokens: 1, temperature: 0, echo: true, logprobs: 1 });
    const lp = res.choices[0].logprobs!;
    expect(res.choices[0].text.startsWith(prompt)).toBe(true);
    expect(lp.tokens!.length).toBe(ids.length + 1);
    expect(lp.token_logprobs![0]).toBeNull();
    const logits = await d.model.forward(ids);
    const V = d.model.config.vocabSize;
    const rule = { atol: 1e-4, rtol: 1e-4 };
    let worst = { i: -1, err: 0 };
    for (let i = 1; i < ids.length; i++) {
      const row = logits.subarray((i - 1) * V, i * V);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let sum = 0;
      for (const x of row) sum += Math.exp(x - max);
      const ref = row[ids[i]] - max - Math.log(sum);
      const err = Math.abs(lp.token_logprobs![i]! - ref);
      if (err > worst.err) worst = { i, err };
      expect(err, `prompt token ${i}: ${lp.token_logprobs![i]} vs ${ref}`).toBeLessThanOrEqual(rule.atol + rule.rtol * Math.abs(ref));
    }
    console.log(`echo logprobs: worst |Δ| ${worst.err.toExponential(2)} at prompt token ${worst.i}`);
    // The greedy continuation's token is its own top-1.
    const last = lp.top_logprobs![ids.length]!;
    expect(Object.values(last)[0]).toBe(lp.token_logprobs![ids.length]);
  });

  it('a list of prompts gives one choice per prompt, in order', async () => {
    const prompts = ['The cat', 'A dog'];
    const want = await Promise.all(prompts.map((p) => expectedText(d, p, 8, [...d.generation.eosTokenIds])));
    const res = await r.client.completions.create({ model: 'demo', prompt: prompts, max_tokens: 8, temperature: 0 });
    expect(res.choices.map((c) => [c.index, c.text])).toEqual(want.map((w, i) => [i, w.text]));
  });
});

describe('the other routes', () => {
  it('GET /v1/models lists the model; /tokenize and /detokenize round-trip; /health is ok', async () => {
    const models = await r.client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['demo']);
    const tok = (await (await fetch(`${r.url}/tokenize`, { method: "POST", body: JSON.stringify({ content: "Hello world" }) })).json()) as { tokens: number[] };
    expect(tok.tokens).toEqual(d.files.tokenizer.encode('Hello world'));
    const de = (await (await fetch(`${r.url}/detokenize`, { method: "POST", body: JSON.stringify({ tokens: tok.tokens }) })).json()) as { content: string };
    expect(de.content).toBe('Hello world');
    expect(await (await fetch(`${r.url}/health`)).json()).toEqual({ status: 'ok' });
  });

  it('GET /metrics is Prometheus text with the request and token counters', async () => {
    const res = await fetch(`${r.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    for (const name of ['falcon_mamba_requests_total', 'falcon_mamba_generated_tokens_total', 'falcon_mamba_cache_hits_total', 'falcon_mamba_queue_length', 'falcon_mamba_decode_tokens_per_second']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toMatch(/falcon_mamba_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} [1-9]/);
  });
});

it('generate() itself is what the comparisons assume: greedy is deterministic', async () => {
  const a = await expectedText(d, 'Hello', 10, []);
  const gen = generate(d.model, d.files.tokenizer, 'Hello', { maxTokens: 10, temperature: 0 });
  let b = '';
  for await (const e of gen) b += e.text;
  expect(b).toBe(a.text);
});
