// Continuous batching (docs/server.md "Scheduling"): streams in flight decode together through Model.stepBatch, join and leave
// between steps, and each gets exactly the text it gets alone; an abort leaves the others intact; --max-batch 1
// steps one sequence per call; a long prompt arriving is prefilled in slices between the running streams' steps.
// The model is wrapped to log every call (op, token count, which states), so the batches are seen, not inferred.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallOptions, Model, ModelState } from '../../src/index.ts';
import { REPO } from '../helpers/goldens.ts';
import { DEMO, expectedText, loadDemo, metric, start, type Demo } from './helpers.ts';

/** One model call: its op, the tokens it fed, and the ids of the states it touched (one per batch row). */
interface Call {
  op: 'prefill' | 'step' | 'stepBatch';
  tokens: number;
  states: number[];
}

/**
 * The demo model behind a logging wrapper; state ids are given in order of first use. It also notices an abort
 * at the end of a call (CallOptions allows an AbortError at any chunk boundary), so a request's signal wrongly
 * given to a shared call fails that call even when it fires mid-pass; `slowMs` makes every call last that much
 * longer, so that a client leaving is likely to do so during one.
 */
function logged(m: Model, slowMs = 0): { model: Model; log: Call[]; idOf(s: ModelState): number } {
  const ids = new WeakMap<ModelState, number>();
  let nextId = 0;
  const idOf = (s: ModelState) => {
    if (!ids.has(s)) ids.set(s, nextId++);
    return ids.get(s)!;
  };
  const log: Call[] = [];
  const late = async (p: Promise<Float32Array>, o?: CallOptions) => {
    const out = await p;
    if (slowMs > 0) await sleep(slowMs);
    if (o?.signal?.aborted) throw new DOMException('aborted during the call', 'AbortError');
    return out;
  };
  const model: Model = {
    config: m.config,
    backend: m.backend,
    forward: (x, o) => m.forward(x, o),
    createState: () => m.createState(),
    prefill: (s, x, o) => (log.push({ op: 'prefill', tokens: x.length, states: [idOf(s)] }), late(m.prefill(s, x, o), o)),
    step: (s, x, o) => (log.push({ op: 'step', tokens: 1, states: [idOf(s)] }), late(m.step(s, x, o), o)),
    stepBatch: (ss: readonly ModelState[], x: ArrayLike<number>, o?: CallOptions) => (log.push({ op: 'stepBatch', tokens: ss.length, states: ss.map(idOf) }), late(m.stepBatch(ss, x, o), o)),
    saveState: (s) => m.saveState(s),
    loadState: (b) => m.loadState(b),
    dispose: () => {},
  };
  return { model, log, idOf };
}

let d: Demo;
beforeAll(async () => {
  d = await loadDemo();
});
afterAll(async () => {
  await d?.model.dispose();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PROMPTS = ['The old man', 'A dog ran', 'In the city', 'She said that'];

interface Answer {
  text: string;
  tokens: number;
}

/** Streams one completion; returns its text and completion token count. */
async function stream(url: string, body: Record<string, unknown>, onChunk?: (i: number) => boolean): Promise<Answer> {
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ stream: true, stream_options: { include_usage: true }, ...body }) });
  expect(res.status).toBe(200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let text = '';
  let tokens = -1;
  let chunks = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, at);
      buf = buf.slice(at + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6)) as { choices: Array<{ text: string; index: number }>; usage?: { completion_tokens: number }; error?: { message: string } };
      if (j.error) throw new Error(`the stream failed: ${j.error.message}`);
      for (const c of j.choices) text += c.text;
      if (j.usage) tokens = j.usage.completion_tokens;
      if (j.choices.length && onChunk && !onChunk(++chunks)) {
        await reader.cancel();
        return { text, tokens };
      }
    }
  }
  return { text, tokens };
}

/** The index of the last call satisfying `f`, or -1. */
function lastIndex(log: Call[], f: (c: Call) => boolean): number {
  for (let i = log.length - 1; i >= 0; i--) if (f(log[i])) return i;
  return -1;
}

/** Row counts of the stepBatch calls in `log` from index `from`. */
const batches = (log: Call[], from = 0) => log.slice(from).filter((c) => c.op === 'stepBatch').map((c) => c.tokens);

describe('continuous batching', () => {
  it('4 concurrent streams decode in one stepBatch per step, each with the text it gets alone (= generate())', async () => {
    const w = logged(d.model);
    const r = await start({ ...d, model: w.model }, { maxBatch: 8, cacheBytes: 0 });
    try {
      const eos = [...d.generation.eosTokenIds];
      const body = (prompt: string) => ({ prompt, max_tokens: 24, temperature: 0 });
      const alone: Answer[] = [];
      for (const p of PROMPTS) alone.push(await stream(r.url, body(p)));
      expect(batches(w.log).every((b) => b === 1)).toBe(true);
      for (let i = 0; i < PROMPTS.length; i++) expect(alone[i].text).toBe((await expectedText(d, PROMPTS[i], 24, eos)).text);
      const from = w.log.length;
      const together = await Promise.all(PROMPTS.map((p) => stream(r.url, body(p))));
      expect(together.map((a) => a.text)).toEqual(alone.map((a) => a.text));
      const bs = batches(w.log, from);
      console.log(`4 streams of ${together.map((a) => a.tokens).join('/')} tokens: ${bs.length} stepBatch calls, B = ${bs.join(',')}`);
      // Every generated token but a sequence's first (drawn from its prompt's logits) is one row of one call…
      expect(bs.reduce((a, b) => a + b, 0)).toBe(together.reduce((a, t) => a + t.tokens - 1, 0));
      // …and the streams shared them: all 4 in one call for all but the steps while they joined and left.
      expect(Math.max(...bs)).toBe(4);
      const shortest = Math.min(...together.map((a) => a.tokens));
      expect(bs.filter((b) => b === 4).length).toBeGreaterThanOrEqual(shortest - 1 - 3);
      expect(await metric(r.url, 'falcon_mamba_decode_steps_total', 'batch_size="4"')).toBe(bs.filter((b) => b === 4).length);
    } finally {
      await r.server.close({ graceMs: 0 });
    }
  });

  it('seeded sampling and n = 2 in a batch: each choice samples what it samples alone', async () => {
    const w = logged(d.model);
    const r = await start({ ...d, model: w.model }, { cacheBytes: 0 });
    try {
      const reqs = PROMPTS.slice(0, 3).map((prompt, i) => ({ prompt, max_tokens: 20, temperature: 0.9, top_p: 0.95, seed: 11 + i, n: i === 0 ? 2 : 1 }));
      const alone: Answer[] = [];
      for (const q of reqs) alone.push(await stream(r.url, q));
      const from = w.log.length;
      const together = await Promise.all(reqs.map((q) => stream(r.url, q)));
      expect(together.map((a) => a.text)).toEqual(alone.map((a) => a.text));
      expect(Math.max(...batches(w.log, from))).toBe(4); // 2 + 1 + 1 sequences
    } finally {
      await r.server.close({ graceMs: 0 });
    }
  });

  it('a client that leaves mid-stream drops out of the batch at once; the others finish with their own text', async () => {
    const w = logged(d.model, 10);
    const r = await start({ ...d, model: w.model }, { cacheBytes: 0 });
    try {
      const body = (prompt: string, max: number) => ({ prompt, max_tokens: max, temperature: 0 });
      const alone = [await stream(r.url, body(PROMPTS[0], 60)), await stream(r.url, body(PROMPTS[1], 60))];
      const aborted = await metric(r.url, 'falcon_mamba_jobs_aborted_total');
      const from = w.log.length;
      let leaverChunks = 0;
      const [a, b, c] = await Promise.all([
        stream(r.url, body(PROMPTS[0], 60)),
        stream(r.url, body(PROMPTS[1], 60)),
        stream(r.url, body(PROMPTS[2], 4000), (i) => (leaverChunks = i) < 5),
      ]);
      expect([a.text, b.text]).toEqual(alone.map((x) => x.text));
      expect(c.text.length).toBeGreaterThan(0);
      for (let i = 0; i < 100 && (await metric(r.url, 'falcon_mamba_jobs_aborted_total')) === aborted; i++) await sleep(10);
      expect(await metric(r.url, 'falcon_mamba_jobs_aborted_total')).toBe(aborted + 1);
      // The leaver's state: the one prefilled with its prompt's tokens after `from`, by order of first use.
      const calls = w.log.slice(from).filter((x) => x.op === 'stepBatch');
      const leaver = w.log.slice(from).filter((x) => x.op === 'prefill').map((x) => x.states[0])[2];
      const withLeaver = calls.filter((x) => x.states.includes(leaver)).length;
      // It was stepped for the tokens its client read, plus at most the few in flight when the client left.
      expect(withLeaver).toBeGreaterThanOrEqual(leaverChunks - 1);
      expect(withLeaver).toBeLessThan(leaverChunks + 8);
      const after = calls.slice(lastIndex(calls, (x) => x.states.includes(leaver)) + 1);
      expect(after.length).toBeGreaterThan(20);
      expect(after.every((x) => x.tokens <= 2)).toBe(true);
      expect(await metric(r.url, 'falcon_mamba_running_sequences')).toBe(0);
    } finally {
      await r.server.close({ graceMs: 0 });
    }
  });

  it('maxBatch 1: one sequence per call (sequential stepping), the same texts', async () => {
    const w = logged(d.model);
    const r = await start({ ...d, model: w.model }, { maxBatch: 1, cacheBytes: 0 });
    try {
      const eos = [...d.generation.eosTokenIds];
      const together = await Promise.all(PROMPTS.slice(0, 3).map((prompt) => stream(r.url, { prompt, max_tokens: 16, temperature: 0 })));
      for (let i = 0; i < 3; i++) expect(together[i].text).toBe((await expectedText(d, PROMPTS[i], 16, eos)).text);
      const bs = batches(w.log);
      expect(bs.length).toBe(together.reduce((a, t) => a + t.tokens - 1, 0));
      expect(bs.every((b) => b === 1)).toBe(true);
      // …and they were interleaved, not run one after the other: consecutive calls alternate between states.
      const ids = w.log.filter((c) => c.op === 'stepBatch').map((c) => c.states[0]);
      expect(ids.filter((s, i) => i > 0 && s !== ids[i - 1]).length).toBeGreaterThan(10);
    } finally {
      await r.server.close({ graceMs: 0 });
    }
  });

  it('a long prompt arriving is fed in slices between the running stream\'s steps, with the text it gets alone', async () => {
    const w = logged(d.model);
    const r = await start({ ...d, model: w.model }, { cacheBytes: 0, prefillSliceMs: 2, maxPromptTokens: 1 << 16 });
    try {
      const long = Array.from({ length: 150 }, (_, i) => `line ${i} of a long story about the sea`).join('\n');
      const nLong = d.files.tokenizer.encode(long).length;
      const alone = await stream(r.url, { prompt: long, max_tokens: 8, temperature: 0 });
      const from = w.log.length;
      let newcomer: Promise<Answer> | undefined;
      const runner = stream(r.url, { prompt: PROMPTS[0], max_tokens: 60, temperature: 0 }, (i) => {
        if (i === 3) newcomer = stream(r.url, { prompt: long, max_tokens: 8, temperature: 0 });
        return true;
      });
      await runner;
      expect((await newcomer!).text).toBe(alone.text);
      const log = w.log.slice(from);
      const runnerState = log.find((c) => c.op === 'stepBatch')!.states[0];
      const longState = log.filter((c) => c.op === 'prefill').map((c) => c.states[0]).find((s) => s !== runnerState)!;
      const runnerLast = lastIndex(log, (c) => c.op === 'stepBatch' && c.states.includes(runnerState));
      // The newcomer's prefill calls while the runner still ran, and the runner's steps between consecutive ones.
      const mine = log.flatMap((c, i) => (c.op === 'prefill' && c.states[0] === longState && i < runnerLast ? [i] : []));
      const slices = mine.map((i) => log[i].tokens);
      const gaps = mine.slice(1).map((i, k) => log.slice(mine[k], i).filter((c) => c.op === 'stepBatch' && c.states.includes(runnerState)).length);
      const all = log.filter((c) => c.op === 'prefill' && c.states[0] === longState).reduce((a, c) => a + c.tokens, 0);
      console.log(`a ${nLong}-token prompt arriving: ${slices.length} prefill slices while the stream ran (${slices.slice(0, 12).join(',')}…), runner steps between them ${gaps.slice(0, 12).join(',')}…; the rest after it ended`);
      expect(all).toBe(nLong);
      expect(slices.length).toBeGreaterThan(5);
      expect(Math.max(...slices)).toBeLessThan(nLong / 4);
      for (const s of slices) expect(s % 4).toBe(0);
      // Between two slices the runner got a token: prefill work is interleaved, never run ahead of the stream.
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1);
    } finally {
      await r.server.close({ graceMs: 0 });
    }
  });
});

describe('falcon-mamba serve --max-batch', () => {
  const cli = (args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, ['src/cli/bin.js', ...args], { cwd: REPO });
      let out = '';
      let err = '';
      child.stdout.on('data', (b) => (out += b));
      child.stderr.on('data', (b) => (err += b));
      child.on('close', (code) => resolve({ code, out, err }));
    });

  it('is listed by --help and refuses a value that is not an integer ≥ 1 in one line', async () => {
    expect((await cli(['serve', '--help'])).out).toMatch(/--max-batch N/);
    for (const bad of ['0', '2.5', 'x']) {
      const r = await cli(['serve', '--model', DEMO, '--max-batch', bad]);
      expect(r.code).not.toBe(0);
      expect(r.err.trim().split('\n')[0]).toMatch(new RegExp(`--max-batch must be an integer ≥ 1, got "${bad.replace('.', '\\.')}"`));
      expect(r.out).toBe('');
    }
  });
});
