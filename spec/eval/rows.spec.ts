// Per-position logits from a carried state (`prefill(state, ids, { allLogits: true })`, src/model.ts) and the
// evaluation feed built on it (src/eval/feed.ts): every row equals `step` at that position after the same
// prefix, the state ends where stepping leaves it, the feed asks for at most `rowChunk` rows a call and never
// steps, and an abort mid-file stops the run. Both backends; wasm 1 and 2 threads, bf16 (as stored) and q8.
// Twin rule, allLogits row vs step row:
//  - bit for bit (atol 0, rtol 0) wherever the same sums run in the same order: the reference (its sequence and
//    step ops are the same arithmetic), and wasm q8 / q4 (integer block dots, then the same f32 scale sums);
//  - wasm bf16 / f32: |a − b| ≤ 1e-5 + 1e-5·|b|, the wasm-vs-wasm rule of spec/wasm/engine.spec.ts (the matmuls
//    take 4-token tiles in the sequence path and single rows in step: another f32 summation order; measured
//    ≤ 3.9e-6 on the demo model's logits, which reach ~±15).
// The state after an allLogits prefill is the state after a plain prefill of the same chunks, bit for bit (only
// the lm_head rows differ).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ROW_CHUNK, InputError, loadModel, MAX_ALL_LOGITS_FLOATS, perplexity, Tokenizer, type Model, type ModelState, type WeightDType } from '../../src/index.ts';
import { feedRows } from '../../src/eval/feed.ts';
import { expectClose, type Tolerance } from '../helpers/close.ts';
import { REPO } from '../helpers/goldens.ts';

const EXACT: Tolerance = { atol: 0, rtol: 0 };
const TILED: Tolerance = { atol: 1e-5, rtol: 1e-5 };

let ids: number[];
beforeAll(async () => {
  const tok = await Tokenizer.fromFile(join(REPO, 'models/demo/tokenizer.json'));
  ids = tok.encode(readFileSync(join(REPO, 'fixtures/demo/heldout.txt'), 'utf8'));
});

/** A model that records every prefill (ids, allLogits) and step it is asked for. */
function recording(model: Model): { model: Model; calls: { kind: 'prefill' | 'step'; n: number; all: boolean }[] } {
  const calls: { kind: 'prefill' | 'step'; n: number; all: boolean }[] = [];
  const wrapped = Object.create(model) as Model;
  wrapped.prefill = (s, x, o) => (calls.push({ kind: 'prefill', n: x.length, all: o?.allLogits === true }), model.prefill(s, x, o));
  wrapped.step = (s, id, o) => (calls.push({ kind: 'step', n: 1, all: false }), model.step(s, id, o));
  return { model: wrapped, calls };
}

/** Steps `ids[from .. to)` from `state`, keeping each row. */
async function stepRows(model: Model, state: ModelState, from: number, to: number): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  for (let t = from; t < to; t++) rows.push(await model.step(state, ids[t]));
  return rows;
}

function sameState(a: ModelState, b: ModelState, tol: Tolerance, what: string): void {
  expectClose(a.ssm, b.ssm, tol, `${what}: ssm`);
  expectClose(a.conv, b.conv, tol, `${what}: conv`);
  expect(a.position, `${what}: position`).toBe(b.position);
}

const CASES: { backend: 'wasm' | 'reference'; dtype: WeightDType; threads: number; tol: Tolerance; n: number }[] = [
  { backend: 'wasm', dtype: 'auto', threads: 1, tol: TILED, n: 150 },
  { backend: 'wasm', dtype: 'auto', threads: 2, tol: TILED, n: 150 },
  { backend: 'wasm', dtype: 'q8', threads: 1, tol: EXACT, n: 150 },
  { backend: 'wasm', dtype: 'q8', threads: 2, tol: EXACT, n: 150 },
  { backend: 'wasm', dtype: 'q4', threads: 2, tol: EXACT, n: 80 },
  // ~40 ms a token: a short run, still crossing its 8-token chunks (REFERENCE_CHUNK).
  { backend: 'reference', dtype: 'auto', threads: 1, tol: EXACT, n: 40 },
];

describe.each(CASES)('allLogits rows = step rows: $backend $dtype, $threads thread(s)', ({ backend, dtype, threads, tol, n }) => {
  let model: Model;
  beforeAll(async () => {
    // chunkSize 16: the wasm engine's own chunks split the longer calls too.
    model = await loadModel(join(REPO, 'models/demo'), { backend, dtype, threads, chunkSize: 16 });
  });
  afterAll(() => model?.dispose());
  const PREFIX = 7;

  it(`prefill({ allLogits }) in chunks of 1, 5, 23, 40 ids after a ${PREFIX}-token prefix = step at every position`, async () => {
    const V = model.config.vocabSize;
    const stepped = model.createState();
    await model.prefill(stepped, ids.slice(0, PREFIX));
    const want = await stepRows(model, stepped, PREFIX, n);

    const s = model.createState();
    const plain = model.createState();
    await model.prefill(s, ids.slice(0, PREFIX));
    await model.prefill(plain, ids.slice(0, PREFIX));
    const cuts = [1, 5, 23, 40];
    for (let at = PREFIX, k = 0; at < n; k++) {
      const to = Math.min(n, at + cuts[k % cuts.length]);
      const rows = await model.prefill(s, ids.slice(at, to), { allLogits: true });
      expect(rows.length).toBe((to - at) * V);
      for (let t = at; t < to; t++) expectClose(rows.subarray((t - at) * V, (t - at + 1) * V), want[t - PREFIX], tol, `position ${t}`);
      // The last row is what a plain prefill of the chunk returns (its lm_head runs on one row: the step's sums),
      // and the state is the plain prefill's, bit for bit.
      expectClose(rows.subarray((to - at - 1) * V), await model.prefill(plain, ids.slice(at, to)), tol, `chunk ending at ${to}: last row vs plain prefill`);
      sameState(s, plain, EXACT, `after the chunk ending at ${to}, vs plain prefill`);
      at = to;
    }
    sameState(s, stepped, tol, 'vs stepping');
  });

  it('feedRows (prefix chunks of 7, row chunks of 5) hands over every step row in order, never steps, asks ≤ 5 rows a call', async () => {
    const stepped = model.createState();
    const scoreFrom = 20;
    await model.prefill(stepped, ids.slice(0, scoreFrom));
    const want = await stepRows(model, stepped, scoreFrom, n);
    const rec = recording(model);
    const s = model.createState();
    const seen: number[] = [];
    await feedRows(rec.model, s, ids.slice(0, n), scoreFrom, (t, row) => {
      expectClose(row, want[t - scoreFrom], tol, `feedRows position ${t}`);
      seen.push(t);
    }, { prefillChunk: 7, rowChunk: 5 });
    expect(seen).toEqual(Array.from({ length: n - scoreFrom }, (_, i) => scoreFrom + i));
    expect(rec.calls.filter((c) => c.kind === 'step')).toEqual([]);
    expect(rec.calls.filter((c) => !c.all).map((c) => c.n)).toEqual([7, 7, 6]);
    expect(Math.max(...rec.calls.filter((c) => c.all).map((c) => c.n))).toBe(5);
    sameState(s, stepped, tol, 'feedRows state vs stepping');
  });
});

describe('allLogits: bounded memory, bad options, abort mid-file (wasm)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(join(REPO, 'models/demo'), { backend: 'wasm', chunkSize: 16 });
  });
  afterAll(() => model?.dispose());

  it(`a streaming perplexity of 1000 tokens asks for at most ${DEFAULT_ROW_CHUNK} rows a call, never steps`, async () => {
    const rec = recording(model);
    const r = await perplexity(rec.model, ids.slice(0, 1000));
    expect(r.count).toBe(999);
    expect(rec.calls.every((c) => c.kind === 'prefill' && c.all && c.n <= DEFAULT_ROW_CHUNK)).toBe(true);
    expect(rec.calls.reduce((a, c) => a + c.n, 0)).toBe(999);
  });

  it('refuses a non-boolean allLogits and more than MAX_ALL_LOGITS_FLOATS logits, before anything runs', async () => {
    const s = model.createState();
    await expect(model.prefill(s, [1, 2], { allLogits: 'yes' as unknown as boolean })).rejects.toThrow(/allLogits must be a boolean/);
    const V = model.config.vocabSize;
    const tooMany = new Array<number>(Math.floor(MAX_ALL_LOGITS_FLOATS / V) + 1).fill(1);
    await expect(model.prefill(s, tooMany, { allLogits: true })).rejects.toThrow(InputError);
    await expect(model.prefill(s, tooMany, { allLogits: true })).rejects.toThrow(/pass at most 65536 ids a call/);
    expect(s.position).toBe(0);
    const ref = await loadModel(join(REPO, 'models/demo'), { backend: 'reference' });
    await expect(ref.prefill(ref.createState(), tooMany, { allLogits: true })).rejects.toThrow(/pass at most 65536 ids a call/);
  });

  it('an abort during the third row chunk stops the file there: no later call, rows of two chunks scored, the reason rejects', async () => {
    const ac = new AbortController();
    const rec = recording(model);
    const inner = rec.model.prefill;
    let rowCalls = 0;
    rec.model.prefill = (s, x, o) => {
      if (o?.allLogits && ++rowCalls === 3) ac.abort(new Error('stop at chunk 3'));
      return inner(s, x, o);
    };
    let done = 0;
    const run = perplexity(rec.model, ids.slice(0, 1000), { signal: ac.signal, progressEvery: 1, onProgress: (p) => (done = p.done) });
    await expect(run).rejects.toThrow('stop at chunk 3');
    expect(rowCalls).toBe(3);
    expect(done).toBe(2 * DEFAULT_ROW_CHUNK);
  });

  it('an abort from a timer mid-file rejects with its reason before the end (the model call sees it between chunks)', async () => {
    const ac = new AbortController();
    let done = 0;
    const total = 1535;
    const run = perplexity(model, ids.slice(0, total + 1), { signal: ac.signal, progressEvery: 1, onProgress: (p) => (done = p.done) });
    setTimeout(() => ac.abort(new Error('timer')), 30);
    await expect(run).rejects.toThrow('timer');
    expect(done).toBeLessThan(total);
  });
});
