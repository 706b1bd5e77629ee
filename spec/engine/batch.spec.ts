// Model.stepBatch (batched decode) on both backends: each sequence's logits and state equal its own `step` on a
// copy of its state, for batches of 1 to 17 sequences (17: two passes of the wasm engine's 16), states at mixed
// positions from createState (slots), loadState (outside the slots) and copies, on 1 and 2 threads and split
// over several wasm memories; greedy continuations identical; bad batches refused.
//
// The rule, per element: |batched − stepped| ≤ 1e-5 + 1e-5·|stepped| for logits and states. The conv and the scan
// of a batched row are the single-sequence kernels' bits (spec/kernels/batch.spec.ts); the matrix products take the
// B rows together (spec/kernels/batch-linear.spec.ts): q8/q4 with the decode kernel's sums in its order, so a q8/q4
// batched row is bit-identical to its own step (checked: every row); f32/f16/bf16 sum in the prefill tile's order
// (bf16 `linearBf16BatchRows`; f32/f16 the prefill kernels), not the decode matvec's, so bits may differ by f32
// rounding. The specs report how many rows were bit-identical.
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, type LoadOptions, type Model, type ModelState } from '../../src/index.ts';
import { compareClose } from '../helpers/close.ts';
import { REPO } from '../helpers/goldens.ts';
import { rng } from '../helpers/tiny-model.ts';

const TOL = { atol: 1e-5, rtol: 1e-5 };
const models: Model[] = [];
afterAll(async () => {
  for (const m of models) await m.dispose();
});

async function load(dir: string, o: LoadOptions): Promise<Model> {
  const m = await loadModel(`${REPO}/fixtures/models/${dir}`, o);
  models.push(m);
  return m;
}

const copy = (m: Model, s: ModelState) => m.loadState(m.saveState(s));

/** B states at mixed positions: even ones from createState (wasm: slots while they last), odd ones restored from bytes. */
async function mixedStates(m: Model, B: number, seed: number): Promise<ModelState[]> {
  const r = rng(seed);
  const V = m.config.vocabSize;
  const out: ModelState[] = [];
  for (let b = 0; b < B; b++) {
    const s = m.createState();
    const n = Math.floor(r() * 12); // 0..11 tokens of history: positions differ
    if (n > 0) await m.prefill(s, Array.from({ length: n }, () => Math.floor(r() * V)));
    out.push(b % 2 ? copy(m, s) : s);
  }
  return out;
}

const CASES: [string, string, LoadOptions][] = [
  ['reference', 'falcon-odd', { backend: 'reference' }],
  ['wasm, 1 thread', 'falcon-odd', { backend: 'wasm', threads: 1 }],
  ['wasm, 2 threads', 'falcon-odd', { backend: 'wasm', threads: 2 }],
  ['wasm bf16, 1 thread', 'falcon-bf16', { backend: 'wasm', threads: 1 }],
  ['wasm bf16, 2 threads', 'falcon-bf16', { backend: 'wasm', threads: 2 }],
  ['wasm q8, 1 thread', 'mamba-bias', { backend: 'wasm', threads: 1, dtype: 'q8' }],
  ['wasm q8, 2 threads', 'mamba-bias', { backend: 'wasm', threads: 2, dtype: 'q8' }],
  ['wasm q4, 1 thread', 'falcon-bf16', { backend: 'wasm', threads: 1, dtype: 'q4' }],
  ['wasm q4, 2 threads', 'falcon-bf16', { backend: 'wasm', threads: 2, dtype: 'q4' }],
  ['wasm, split over memories', 'falcon-odd', { backend: 'wasm', threads: 2, chunkSize: 16, maxPartBytes: 300_000 }],
];

describe.each(CASES)('stepBatch, %s', (_label, dir, options) => {
  it('each sequence equals its own step, for B = 1 to 8, 16, 17, at mixed positions', async () => {
    const m = await load(dir, options);
    if (options.maxPartBytes) expect((m as unknown as { parts: unknown[] }).parts.length).toBeGreaterThan(1);
    const V = m.config.vocabSize;
    let rows = 0, identical = 0, worst = 0;
    for (const B of [1, 2, 3, 4, 5, 6, 7, 8, 16, 17]) {
      const states = await mixedStates(m, B, B);
      const twins = states.map((s) => copy(m, s));
      const r = rng(100 + B);
      const ids = Array.from({ length: B }, () => Math.floor(r() * V));
      const batched = await m.stepBatch(states, ids);
      expect(batched.length).toBe(B * V);
      for (let b = 0; b < B; b++) {
        const single = await m.step(twins[b], ids[b]);
        const row = batched.subarray(b * V, (b + 1) * V);
        const rep = compareClose(row, single, TOL, `B=${B}, sequence ${b}: logits`);
        if (!rep.ok) throw new Error(rep.message);
        worst = Math.max(worst, rep.maxAbs);
        rows++;
        if (Buffer.compare(Buffer.from(row.buffer, row.byteOffset, row.byteLength), Buffer.from(single.buffer)) === 0) identical++;
        expect(states[b].position).toBe(twins[b].position);
        for (const k of ['conv', 'ssm'] as const) {
          const rs = compareClose(states[b][k], twins[b][k], TOL, `B=${B}, sequence ${b}: ${k} state`);
          if (!rs.ok) throw new Error(rs.message);
        }
      }
    }
    console.log(`stepBatch ${_label}: ${rows} rows, ${identical} bit-identical to step, worst |Δlogit| ${worst.toExponential(2)}`);
    // q8/q4 (and the reference): the same sums in the same order as step, so every row is its step's bits.
    if (options.backend === 'reference' || options.dtype === 'q8' || options.dtype === 'q4') expect(identical).toBe(rows);
  });

  it('greedy continuations of 4 sequences equal their own greedy decode', async () => {
    const m = await load(dir, options);
    const V = m.config.vocabSize;
    const argmax = (a: Float32Array, off: number) => {
      let best = off;
      for (let i = off + 1; i < off + V; i++) if (a[i] > a[best]) best = i;
      return best - off;
    };
    const states = await mixedStates(m, 4, 7);
    const twins = states.map((s) => copy(m, s));
    let ids = [1, 2, 3, 4].map((i) => (i * 37) % V);
    const solo = [...ids];
    const got: number[][] = [[], [], [], []], want: number[][] = [[], [], [], []];
    for (let t = 0; t < 12; t++) {
      const l = await m.stepBatch(states, ids);
      ids = ids.map((_, b) => argmax(l, b * V));
      ids.forEach((id, b) => got[b].push(id));
      for (let b = 0; b < 4; b++) {
        solo[b] = argmax(await m.step(twins[b], solo[b]), 0);
        want[b].push(solo[b]);
      }
    }
    expect(got).toEqual(want);
  });

  it('refuses a state twice, mismatched lengths, an empty batch and bad ids, touching no state', async () => {
    const m = await load(dir, options);
    const s = m.createState(), t = m.createState();
    await expect(m.stepBatch([s, s], [1, 2])).rejects.toThrow(/appears twice/);
    await expect(m.stepBatch([s, { ...s }], [1, 2])).rejects.toThrow(/appears twice/);
    await expect(m.stepBatch([s, t], [1])).rejects.toThrow(/2 states but 1 token ids/);
    await expect(m.stepBatch([], [])).rejects.toThrow(/non-empty/);
    await expect(m.stepBatch([s, t], [1, m.config.vocabSize])).rejects.toThrow(/outside the vocabulary/);
    const ac = new AbortController();
    ac.abort();
    await expect(m.stepBatch([s, t], [1, 2], { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect([s.position, t.position]).toEqual([0, 0]);
  });
});
