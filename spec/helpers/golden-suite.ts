/**
 * One golden suite for every backend: logits of the recorded positions, argmax at every position, and the
 * 16-token greedy continuation through prefill + step, against each case made by transformers.
 *
 * Tolerance on logits: |ours − HF| ≤ 5e-5 + 5e-5·|HF| (the reasons are in spec/reference/goldens.spec.ts).
 */
import { describe, expect, it } from 'vitest';
import type { Model } from '../../src/index.ts';
import { argmaxRow, expectClose } from './close.ts';
import type { GoldenCase } from './goldens.ts';

export const GOLDEN_TOL = { atol: 5e-5, rtol: 5e-5 };

/** Registers the suite for `cases`, loading each case's model with `load` (disposed at the end). */
export function defineGoldenSuite(label: string, cases: GoldenCase[], load: (dir: string) => Promise<Model>, options: { shared?: boolean } = {}): void {
  describe(`golden cases exist (${label})`, () => {
    it(options.shared === false ? 'there are cases' : 'the shared set is present', () => {
      expect(cases.some((c) => options.shared === false || c.name.startsWith('shared/'))).toBe(true);
    });
  });

  for (const gc of cases) {
    describe(`${label} vs transformers: ${gc.name} (${gc.storageDtype})`, () => {
      let model: Model;
      it('loads', async () => {
        model = await load(gc.modelDir);
        expect(model.config.nLayer).toBeGreaterThan(0);
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

        it(`seq ${si}: 16-token greedy continuation through prefill + step equals HF's full recomputation`, async () => {
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
}
