// The wasm engine's own equivalences: chunked prefill = one call (logits and state), step at every
// position = forward rows, wasm = reference on random models of awkward shapes, two models and two states
// interleaved, and bad input → InputError.
// Tolerances: wasm vs wasm paths |a − b| ≤ 1e-5 + 1e-5·|b| (the same kernels; only the matmul blocking —
// 4-token tiles vs single rows — and chunk boundaries change the f32 summation order); wasm vs reference
// |a − b| ≤ 1e-4 + 1e-4·|ref| (f32 SIMD sums and a polynomial exp vs f64 sums, over several layers on
// random weights of scale 1 whose logits reach ~±30).
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError, loadModel, type Model } from '../../src/index.ts';
import { expectClose } from '../helpers/close.ts';
import { expectChunkedPrefillMatches, expectStepMatchesForward, randomIds } from '../helpers/state-paths.ts';
import { writeTinyModel, type TinyShape } from '../helpers/tiny-model.ts';

const SAME = { atol: 1e-5, rtol: 1e-5 };
const VS_REF = { atol: 1e-4, rtol: 1e-4 };
const SHAPES: [string, TinyShape][] = [
  ['falcon, K=4, odd widths', { model_type: 'falcon_mamba', hidden_size: 13, intermediate_size: 27, state_size: 7, conv_kernel: 4, time_step_rank: 3, num_hidden_layers: 2, vocab_size: 41, tie_word_embeddings: false }],
  ['mamba with biases, K=2, dState 4', { model_type: 'mamba', hidden_size: 8, intermediate_size: 16, state_size: 4, conv_kernel: 2, time_step_rank: 2, num_hidden_layers: 3, vocab_size: 30, use_bias: true }],
  ['falcon, K=5, dState 16, no conv bias', { model_type: 'falcon_mamba', hidden_size: 33, intermediate_size: 65, state_size: 16, conv_kernel: 5, time_step_rank: 5, num_hidden_layers: 2, vocab_size: 20, use_conv_bias: false }],
  ['mamba, K=1 (no history), dState 8', { model_type: 'mamba', hidden_size: 17, intermediate_size: 35, state_size: 8, conv_kernel: 1, time_step_rank: 2, num_hidden_layers: 1, vocab_size: 17 }],
];

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

for (const [label, shape] of SHAPES) {
  describe(`wasm engine: ${label}`, () => {
    let wasm: Model;
    let ref: Model;
    it('loads (chunkSize 5, so long inputs cross chunk boundaries)', async () => {
      const d = writeTinyModel(shape, 7);
      dirs.push(d);
      wasm = await loadModel(d, { backend: 'wasm', chunkSize: 5 });
      ref = await loadModel(d, { backend: 'reference' });
    });

    it('forward = reference forward at every position', async () => {
      const V = shape.vocab_size;
      const ids = randomIds(23, V, 3);
      expectClose(await wasm.forward(ids), await ref.forward(ids), VS_REF, `${label} forward`);
    });

    it('step at every position = forward rows', async () => {
      await expectStepMatchesForward(wasm, randomIds(23, shape.vocab_size, 3), SAME, label);
    });

    it('prefill in random chunks = one prefill (logits and state) = reference state', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 }), fc.integer(), async (n, cuts, seed) => {
          const ids = randomIds(n, shape.vocab_size, seed);
          const one = await expectChunkedPrefillMatches(wasm, ids, cuts, SAME);
          const rs = ref.createState();
          await ref.prefill(rs, ids);
          expectClose(one.ssm, rs.ssm, VS_REF, 'ssm state vs reference');
          expectClose(one.conv, rs.conv, VS_REF, 'conv state vs reference');
        }),
        { numRuns: 20, seed: 42 },
      );
    });
  });
}

describe('wasm engine: two models and two states interleaved', () => {
  it('each sequence gets the logits it would get alone', async () => {
    const da = writeTinyModel(SHAPES[0][1], 1);
    const db = writeTinyModel(SHAPES[2][1], 2);
    dirs.push(da, db);
    const [ma, mb] = [await loadModel(da, { backend: 'wasm' }), await loadModel(db, { backend: 'wasm', chunkSize: 3 })];
    const ida = [randomIds(12, 41, 5), randomIds(9, 41, 6)];
    const idb = [randomIds(10, 20, 7), randomIds(11, 20, 8)];
    // Alone: each sequence from its own fresh state, run to the end.
    const alone = async (m: Model, ids: number[]) => {
      const s = m.createState();
      await m.prefill(s, ids.slice(0, 4));
      let l: Float32Array = new Float32Array(0);
      for (const id of ids.slice(4)) l = await m.step(s, id);
      return { l: l.slice(), s };
    };
    const expected = [await alone(ma, ida[0]), await alone(ma, ida[1]), await alone(mb, idb[0]), await alone(mb, idb[1])];
    // Interleaved: four sequences on two models advanced in turns.
    const seqs = [
      { m: ma, ids: ida[0] }, { m: ma, ids: ida[1] }, { m: mb, ids: idb[0] }, { m: mb, ids: idb[1] },
    ].map((q) => ({ ...q, s: q.m.createState(), l: new Float32Array(0) }));
    for (const q of seqs) await q.m.prefill(q.s, q.ids.slice(0, 4));
    for (let t = 4; t < 12; t++) for (const q of seqs) if (t < q.ids.length) q.l = (await q.m.step(q.s, q.ids[t])).slice();
    seqs.forEach((q, i) => {
      expectClose(q.l, expected[i].l, { atol: 0, rtol: 0 }, `sequence ${i} logits`);
      expectClose(q.s.ssm, expected[i].s.ssm, { atol: 0, rtol: 0 }, `sequence ${i} ssm state`);
    });
    await ma.dispose();
    await mb.dispose();
    await expect(ma.step(ma.createState(), 0)).rejects.toThrow(InputError);
  });
});

describe('wasm engine input checks', () => {
  it('unknown token ids, empty input, a foreign state and bad options are InputErrors', async () => {
    const d = writeTinyModel(SHAPES[0][1], 1);
    const other = writeTinyModel(SHAPES[1][1], 1);
    dirs.push(d, other);
    const m = await loadModel(d, { backend: 'wasm' });
    const V = SHAPES[0][1].vocab_size;
    await expect(m.forward([0, V])).rejects.toThrow(InputError);
    await expect(m.forward([0, V])).rejects.toThrow(/token id 41 at position 1 is outside the vocabulary \[0, 41\)/);
    await expect(m.forward([-1])).rejects.toThrow(/token id -1/);
    await expect(m.forward([1.5])).rejects.toThrow(InputError);
    await expect(m.forward([])).rejects.toThrow(/no token ids/);
    await expect(m.step(m.createState(), NaN)).rejects.toThrow(InputError);
    const m2 = await loadModel(other, { backend: 'wasm' });
    await expect(m.step(m2.createState(), 0)).rejects.toThrow(/state does not fit this model/);
    await expect(m.prefill({ conv: new Float32Array(3), ssm: new Float32Array(3), position: 0 }, [1])).rejects.toThrow(InputError);
    await expect(loadModel(d, { backend: 'wasm', dtype: 'q5' as never })).rejects.toThrow(InputError);
    await expect(loadModel(d, { backend: 'wasm', chunkSize: 0 })).rejects.toThrow(InputError);
  });

  it('dtype f32 and bf16 loads agree with auto (f32 storage: exact for f32, bf16 rounding within 2e-2)', async () => {
    const d = writeTinyModel(SHAPES[0][1], 3);
    dirs.push(d);
    const ids = randomIds(15, 41, 9);
    const auto = await (await loadModel(d, { backend: 'wasm' })).forward(ids);
    expectClose(await (await loadModel(d, { backend: 'wasm', dtype: 'f32' })).forward(ids), auto, { atol: 0, rtol: 0 }, 'dtype f32');
    expectClose(await (await loadModel(d, { backend: 'wasm', dtype: 'bf16' })).forward(ids), auto, { atol: 0.1, rtol: 2e-2 }, 'dtype bf16');
  });
});
