// Many clients at once: 8 concurrent streams each get their own greedy text; a client that leaves mid-stream
// aborts its generation (the token counter stops at once, the model serves the next request); a full queue
// answers 429 with Retry-After.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedText, loadDemo, metric, start, type Demo, type Running } from './helpers.ts';

let d: Demo;
beforeAll(async () => {
  d = await loadDemo();
});
afterAll(async () => {
  await d?.model.dispose();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('concurrent streaming clients', () => {
  let r: Running;
  beforeAll(async () => {
    r = await start(d, { parallel: 4 });
  });
  afterAll(async () => {
    await r?.server.close({ graceMs: 0 });
  });

  it('8 clients streaming at once each get the text generate() gives for their own prompt', async () => {
    const prompts = ['The old man', 'A dog ran', 'In the city', 'She said that', 'Once upon', 'The river', 'We went to', 'My father'];
    const eos = [...d.generation.eosTokenIds];
    const want = [];
    for (const p of prompts) want.push(await expectedText(d, p, 30, eos));
    let maxRunning = 0;
    const texts = await Promise.all(prompts.map(async (prompt) => {
      const stream = await r.client.completions.create({ model: 'demo', prompt, max_tokens: 30, temperature: 0, stream: true });
      let text = '';
      for await (const c of stream) {
        text += c.choices[0]?.text ?? '';
        maxRunning = Math.max(maxRunning, r.server.scheduler.activeJobs);
      }
      return text;
    }));
    expect(texts).toEqual(want.map((w) => w.text));
    expect(maxRunning).toBeGreaterThan(1); // they really were interleaved
  });

  it('a client that disconnects mid-stream aborts its generation within a token and frees the model', async () => {
    const before = await metric(r.url, 'falcon_mamba_jobs_aborted_total');
    const stream = await r.client.completions.create({ model: 'demo', prompt: 'The old man', max_tokens: 4000, temperature: 0, stream: true });
    let chunks = 0;
    for await (const _ of stream) if (++chunks === 5) break; // leaving the loop aborts the HTTP request
    let aborted = before;
    for (let i = 0; i < 100 && aborted === before; i++) {
      await sleep(20);
      aborted = await metric(r.url, 'falcon_mamba_jobs_aborted_total');
    }
    expect(aborted).toBe(before + 1);
    const g1 = await metric(r.url, 'falcon_mamba_generated_tokens_total');
    await sleep(200);
    expect(await metric(r.url, 'falcon_mamba_generated_tokens_total')).toBe(g1);
    expect(await metric(r.url, 'falcon_mamba_running_sequences')).toBe(0);
    const res = await r.client.completions.create({ model: 'demo', prompt: 'Hello', max_tokens: 5, temperature: 0 });
    expect(res.choices[0].text).toBe((await expectedText(d, 'Hello', 5, [...d.generation.eosTokenIds])).text);
  });
});

describe('the queue limit', () => {
  it('beyond --parallel 1 and --max-queue 1, a request gets 429 with Retry-After; the others are served', async () => {
    const r = await start(d, { parallel: 1, maxQueue: 1 });
    try {
      const body = (max: number) => JSON.stringify({ prompt: 'The old man', max_tokens: max, temperature: 0, stream: true });
      const ctl = new AbortController();
      const a = await fetch(`${r.url}/v1/completions`, { method: 'POST', body: body(4000), signal: ctl.signal });
      const b = fetch(`${r.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'Hi', max_tokens: 3, temperature: 0 }) });
      for (let i = 0; i < 100 && r.server.scheduler.queued === 0; i++) await sleep(10);
      expect(r.server.scheduler.queued).toBe(1);
      const c = await fetch(`${r.url}/v1/completions`, { method: 'POST', body: body(3) });
      expect(c.status).toBe(429);
      expect(c.headers.get('retry-after')).toBe('1');
      const err = (await c.json()) as { error: { type: string; code: string; message: string } };
      expect(err.error.type).toBe('rate_limit_error');
      expect(err.error.code).toBe('queue_full');
      expect(a.status).toBe(200);
      await a.body!.getReader().read();
      const t0 = performance.now();
      ctl.abort();
      const rb = await b;
      expect(performance.now() - t0).toBeLessThan(2000); // a's 4000 tokens were not generated
      expect(rb.status).toBe(200);
      expect(((await rb.json()) as { choices: Array<{ text: string }> }).choices[0].text).toBe((await expectedText(d, 'Hi', 3, [...d.generation.eosTokenIds])).text);
    } finally {
      await r.server.close({ graceMs: 0 });
    }
  });

  it('close() lets a request in flight finish within the grace period, then refuses new ones with 503', async () => {
    const r = await start(d, { parallel: 1 });
    const p = r.client.completions.create({ model: 'demo', prompt: 'The old man', max_tokens: 40, temperature: 0 });
    while (r.server.scheduler.activeJobs === 0) await sleep(1);
    const closing = r.server.close({ graceMs: 30_000 });
    const res = await p;
    expect(res.choices[0].text).toBe((await expectedText(d, 'The old man', 40, [...d.generation.eosTokenIds])).text);
    await closing;
  });
});
