// The two entry points of the reference agree: token-by-token with explicit state = the whole
// sequence at every position; prefill in several chunks = one call, for logits and for the state left behind.
// Tolerance: |a − b| ≤ 1e-5 + 1e-5·|b|. Both paths do the same f32 arithmetic except the order of the conv's
// K-term sum (history vs current token), so they differ by a few ulps at most.
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError, loadModel, type Model } from '../../src/index.ts';
import { expectChunkedPrefillMatches, expectStepMatchesForward, randomIds } from '../helpers/state-paths.ts';
import { writeTinyModel, type TinyShape } from '../helpers/tiny-model.ts';

const TOL = { atol: 1e-5, rtol: 1e-5 };
const SHAPES: [string, TinyShape][] = [
  ['falcon, K=4, odd widths', { model_type: 'falcon_mamba', hidden_size: 13, intermediate_size: 27, state_size: 7, conv_kernel: 4, time_step_rank: 3, num_hidden_layers: 2, vocab_size: 41, tie_word_embeddings: false }],
  ['mamba with biases, K=2', { model_type: 'mamba', hidden_size: 8, intermediate_size: 16, state_size: 4, conv_kernel: 2, time_step_rank: 2, num_hidden_layers: 3, vocab_size: 30, use_bias: true }],
  ['falcon, K=5, no conv bias', { model_type: 'falcon_mamba', hidden_size: 6, intermediate_size: 11, state_size: 16, conv_kernel: 5, time_step_rank: 1, num_hidden_layers: 2, vocab_size: 20, use_conv_bias: false }],
  ['mamba, K=1 (no history)', { model_type: 'mamba', hidden_size: 5, intermediate_size: 9, state_size: 3, conv_kernel: 1, time_step_rank: 2, num_hidden_layers: 1, vocab_size: 17 }],
];

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

for (const [label, shape] of SHAPES) {
  describe(`reference state paths: ${label}`, () => {
    let model: Model;
    it('loads', async () => {
      const d = writeTinyModel(shape, 7);
      dirs.push(d);
      model = await loadModel(d, { backend: 'reference' });
    });

    it('step at every position = forward rows', async () => {
      await expectStepMatchesForward(model, randomIds(23, shape.vocab_size, 3), TOL, label);
    });

    it('prefill in random chunks = one prefill (logits and state)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 }), fc.integer(), async (n, cuts, seed) => {
          await expectChunkedPrefillMatches(model, randomIds(n, shape.vocab_size, seed), cuts, TOL);
        }),
        { numRuns: 25, seed: 42 },
      );
    });
  });
}

describe('reference input checks', () => {
  it('unknown token ids, empty input and a foreign state are InputErrors', async () => {
    const d = writeTinyModel(SHAPES[0][1], 1);
    dirs.push(d);
    const m = await loadModel(d, { backend: 'reference' });
    const V = SHAPES[0][1].vocab_size;
    await expect(m.forward([0, V])).rejects.toThrow(InputError);
    await expect(m.forward([0, V])).rejects.toThrow(/token id 41 at position 1 is outside the vocabulary \[0, 41\)/);
    await expect(m.forward([-1])).rejects.toThrow(/token id -1/);
    await expect(m.forward([1.5])).rejects.toThrow(InputError);
    await expect(m.forward([])).rejects.toThrow(/no token ids/);
    const other = writeTinyModel(SHAPES[1][1], 1);
    dirs.push(other);
    const m2 = await loadModel(other, { backend: 'reference' });
    await expect(m.step(m2.createState(), 0)).rejects.toThrow(/state does not fit this model/);
  });
});
