// The engine never blocks the event loop, and a model call can be aborted (src/model.ts
// `CallOptions`, docs/generation.md "Abort"). On both backends, wasm on 1 and 2 threads, on a tiny random model:
// - while a long decode runs, a 5 ms setInterval keeps ticking: no gap between ticks over 100 ms (the engine gives
//   the loop a turn every YIELD_MS = 4 ms of compute; 100 ms leaves room for a shared 2-core machine's stalls);
// - AbortSignal.timeout(200) ends a 100,000-token generation with finishReason 'abort' within 0.5 s of firing;
// - an abort fired 200 ms into a 30,000-token prompt, fed in ONE prefill call, ends it within 0.5 s, with the
//   state holding exactly the completed chunks (position = promptTokens), which a prefill of the rest continues
//   to the bits of an unaborted prefill;
// - overlapping calls on one model give the bits of the same calls made one after the other.
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { generateIds, loadModel, type Model } from '../../src/index.ts';
import { writeTinyModel } from '../helpers/tiny-model.ts';

const SHAPE = { model_type: 'falcon_mamba' as const, hidden_size: 96, intermediate_size: 384, state_size: 16, conv_kernel: 4, time_step_rank: 6, num_hidden_layers: 2, vocab_size: 515, tie_word_embeddings: false };
const dir = writeTinyModel(SHAPE, 11);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONFIGS: [string, () => Promise<Model>][] = [
  ['reference', () => loadModel(dir, { backend: 'reference' })],
  ['wasm, 1 thread', () => loadModel(dir, { backend: 'wasm', threads: 1 })],
  ['wasm, 2 threads', () => loadModel(dir, { backend: 'wasm', threads: 2 })],
];

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const ids = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 131 + seed * 7) % SHAPE.vocab_size);

for (const [label, load] of CONFIGS) {
  describe(`non-blocking engine: ${label}`, () => {
    it('a setInterval keeps ticking during a long decode; AbortSignal.timeout(200) ends 100,000 tokens within 0.5 s', async () => {
      const model = await load();
      const ticks: number[] = [];
      const timer = setInterval(() => ticks.push(performance.now()), 5);
      const signal = AbortSignal.timeout(200);
      let firedAt = 0;
      signal.addEventListener('abort', () => (firedAt = performance.now()));
      const t0 = performance.now();
      const summary = await generateIds(model, [1, 2, 3], { maxTokens: 100_000, signal, seed: 1 }).done();
      const end = performance.now();
      clearInterval(timer);
      expect(summary.finishReason).toBe('abort');
      expect(summary.tokens.length).toBeGreaterThan(0);
      expect(summary.tokens.length).toBeLessThan(100_000);
      expect(firedAt).toBeGreaterThan(0);
      expect(end - firedAt, 'ms from the abort to the end').toBeLessThan(500);
      const gaps = [ticks[0] - t0, ...ticks.slice(1).map((t, i) => t - ticks[i])];
      expect(ticks.length, 'ticks in ~200 ms').toBeGreaterThan(5);
      expect(Math.max(...gaps), `longest gap between ticks (ms) of ${ticks.length}`).toBeLessThan(100);
      await model.dispose();
    });

    it('an abort 200 ms into a 30,000-token prompt (one prefill call) stops it within 0.5 s, the state consistent', async () => {
      const model = await load();
      const prompt = ids(30_000, 1);
      const ac = new AbortController();
      let firedAt = 0;
      setTimeout(() => {
        firedAt = performance.now();
        ac.abort();
      }, 200);
      const state = model.createState();
      const summary = await generateIds(model, prompt, { maxTokens: 5, signal: ac.signal, prefillChunkSize: 30_000, state }).done();
      const end = performance.now();
      expect(summary.finishReason).toBe('abort');
      expect(firedAt).toBeGreaterThan(0);
      expect(end - firedAt, 'ms from the abort to the end').toBeLessThan(500);
      expect(summary.promptTokens, 'the prompt was cut short inside the one call').toBeLessThan(prompt.length);
      expect(state.position).toBe(summary.promptTokens);
      // The state is that of the tokens completed: feeding the rest gives an unaborted prefill's bits (on the
      // first 300 tokens, to keep the spec short: the rest continues from an equally consistent state).
      const cut = summary.promptTokens;
      const n = Math.min(prompt.length, cut + 300);
      const rest = await model.prefill(state, prompt.slice(cut, n));
      const whole = model.createState();
      if (cut > 0) await model.prefill(whole, prompt.slice(0, cut));
      const want = await model.prefill(whole, prompt.slice(cut, n));
      expect(bits(rest).equals(bits(want))).toBe(true);
      expect(bits(new Float32Array(state.ssm)).equals(bits(new Float32Array(whole.ssm)))).toBe(true);
      await model.dispose();
    });

    it('a call aborted before it starts rejects with an AbortError and changes nothing', async () => {
      const model = await load();
      const state = model.createState();
      await model.prefill(state, [1, 2, 3]);
      const before = new Float32Array(state.ssm);
      const signal = AbortSignal.abort(new Error('stop'));
      for (const call of [() => model.step(state, 4, { signal }), () => model.prefill(state, [4, 5], { signal }), () => model.forward([4], { signal })]) {
        const e = await call().then(() => null, (err: unknown) => err);
        expect(e).toBeInstanceOf(Error);
        expect((e as Error).name).toBe('AbortError');
        expect((e as Error).cause).toBe(signal.reason);
      }
      expect(state.position).toBe(3);
      expect(bits(new Float32Array(state.ssm)).equals(bits(before))).toBe(true);
      await model.dispose();
    });

    it('overlapping calls on one model = the same calls one after the other', async () => {
      const model = await load();
      const a = ids(800, 2), b = ids(800, 3);
      const sa = model.createState(), sb = model.createState();
      const [la, lb, lf] = await Promise.all([model.prefill(sa, a), model.prefill(sb, b), model.forward(a.slice(0, 300))]);
      const [ta, tb] = [model.createState(), model.createState()];
      const wa = await model.prefill(ta, a);
      const wb = await model.prefill(tb, b);
      const wf = await model.forward(a.slice(0, 300));
      expect(bits(la).equals(bits(wa))).toBe(true);
      expect(bits(lb).equals(bits(wb))).toBe(true);
      expect(bits(lf).equals(bits(wf))).toBe(true);
      expect(bits(new Float32Array(sb.ssm)).equals(bits(new Float32Array(tb.ssm)))).toBe(true);
      await model.dispose();
    });
  });
}
