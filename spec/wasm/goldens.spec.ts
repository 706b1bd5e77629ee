// The wasm backend against every golden made by Hugging Face transformers: the shared public set
// (../shared/goldens) and the project's fixtures (fixtures/goldens/*.json, when present), on 1 and 2 threads.
//
// Tolerance on logits: the same rule as the reference backend (spec/reference/goldens.spec.ts),
// |ours − HF| ≤ 5e-5 + 5e-5·|HF|. The wasm kernels sum in f32 SIMD lanes and use a polynomial exp in the scan,
// so they sit a few ulp further from HF than the f64-summing reference; measured ≤ ~2e-5 on these models
// (logits of magnitude ≤ ~10), while a wrong op moves logits by ≥ 1e-2. Argmax at every position and the
// 16-token greedy continuation (prefill + step) must be identical.
import { describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/index.ts';
import { argmaxRow, expectClose } from '../helpers/close.ts';
import { loadGoldenCases } from '../helpers/goldens.ts';

const GOLDEN_TOL = { atol: 5e-5, rtol: 5e-5 };
const cases = loadGoldenCases();

describe('golden cases exist for the wasm backend', () => {
  it('the shared set is present', () => {
    expect(cases.some((c) => c.name.startsWith('shared/'))).toBe(true);
  });
});

for (const gc of cases) for (const threads of [1, 2]) {
  describe(`wasm vs transformers: ${gc.name} (${gc.storageDtype}), threads ${threads}`, () => {
    let model: Model;
    it('loads', async () => {
      model = await loadModel(gc.modelDir, { backend: 'wasm', threads });
      expect(model.backend).toBe('wasm');
    });

    gc.seqs.forEach((s, si) => {
      it(`seq ${si} (L=${s.ids.length}): logits of the recorded positions and argmax at every position`, async () => {
        const V = model.config.vocabSize;
        const logits = await model.forward(s.ids);
        expect(logits.length).toBe(s.ids.length * V);
        s.positions.forEach((p, k) => {
          expectClose(logits.subarray(p * V, (p + 1) * V), s.logits.subarray(k * V, (k + 1) * V), GOLDEN_TOL, `${gc.name} seq ${si} position ${p}`);
        });
        expect(s.ids.map((_, t) => argmaxRow(logits, V, t))).toEqual(s.argmax);
      });

      it(`seq ${si}: 16-token greedy continuation through prefill + step equals HF's`, async () => {
        const V = model.config.vocabSize;
        const state = model.createState();
        let logits = await model.prefill(state, s.ids);
        const out: number[] = [];
        for (let i = 0; i < 16; i++) {
          const next = argmaxRow(logits, V);
          out.push(next);
          if (i < 15) logits = await model.step(state, next);
        }
        expect(out).toEqual(s.greedy16);
      });
    });

    it('dispose', async () => {
      await model.dispose();
    });
  });
}
