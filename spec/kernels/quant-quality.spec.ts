/**
 * Loose sanity bounds on the quality of quantized weights (bench/quant-quality.ts; the full table and how the
 * bounds were picked are in docs/quantization.md). Runs the project's fixture models (a few seconds); the shared
 * falcon-tiny (vocab 65024, 40 s) is measured by the command only.
 *
 * Measured on the fixture models (random perturbed weights: logits of ±10s, near-flat distributions, errors
 * amplified layer after layer, so these are harsh cases): q8 argmax agreement ≥ 90.0%, |ΔNLL| ≤ 0.048, max logit
 * error ÷ max |logit| ≤ 0.092; q8+a ≥ 81.3%, ≤ 0.078, ≤ 0.19; q4 |ΔNLL| ≤ 0.39, relative error ≤ 1.39 (logits
 * scrambled: argmax 34–81%), its max logit error 7–15× q8's. Bounds with ~2× headroom: q8 ≥ 80%, < 0.1, < 0.2;
 * q8+a ≥ 70%, < 0.15, < 0.35; q4 < 0.6, < 2.5 and worse than q8.
 * The trained demo model (models/demo, when present; 2 windows of 256 held-out tokens here, 8 in the command)
 * measured q8 argmax 99.1% / ΔNLL 0.0000, q8+a 98.6% / 0.0004, q4 86.2% / 0.021, q4+a 86.1% / 0.022, relative
 * logit error ≤ 0.08. Bounds: q8 and q8+a argmax ≥ 90% (the issue's) and ΔNLL < 0.01 (25× headroom: a trained
 * model's peaked distributions barely move at 8 bits); q4 argmax ≥ 70% and ΔNLL < 0.1 (~5×).
 */
import { describe, expect, it } from 'vitest';
import { linearActQ8, measureModel, qualityModels, type QualityRow } from '../../bench/quant-quality.ts';
import { ReferenceModel, type LinearFn } from '../../src/reference/model.ts';
import { linear } from '../../src/reference/ops.ts';

const models = (await qualityModels()).filter((m) => !m.name.startsWith('shared/'));

describe('quantized-weight quality vs f32 (reference backend)', () => {
  it('the variants run the reference block with their linear: every linear layer, nothing else', () => {
    // The bench builds ReferenceModel(config, weights, lin): the block is written once (src/reference/model.ts).
    // Each call of `lin` is logged; a token through the model is 4 linear layers per block + lm_head, in order.
    for (const m of models.slice(0, 3)) {
      const ids = m.seqs[m.seqs.length - 1].ids;
      const { dModel: Dm, dInner: E, dState: N, dtRank: R, vocabSize: V, nLayer } = m.config;
      const calls: string[] = [];
      const logged = (f: LinearFn): LinearFn => (out, x, W, bias, L, inF, outF) => {
        calls.push(`${inF}->${outF}`);
        f(out, x, W, bias, L, inF, outF);
      };
      const want = m.model.run(m.model.createState(), ids, true);
      const same = new ReferenceModel(m.config, m.weights, logged(linear)).run(m.model.createState(), ids, true);
      expect(Buffer.from(same.buffer).equals(Buffer.from(want.buffer)), m.name).toBe(true);
      const layer = [`${Dm}->${2 * E}`, `${E}->${R + 2 * N}`, `${R}->${E}`, `${E}->${Dm}`];
      expect(calls).toEqual([...Array.from({ length: nLayer }, () => layer).flat(), `${Dm}->${V}`]);
      // And the variant's arithmetic is what runs: quantized activations move the logits.
      const q = new ReferenceModel(m.config, m.weights, linearActQ8).run(m.model.createState(), ids, true);
      expect(Buffer.from(q.buffer).equals(Buffer.from(want.buffer)), m.name).toBe(false);
    }
  });

  for (const m of models) {
    it(m.name, () => {
      const rows = measureModel(m, 2); // 2 windows of the demo text keep the spec short
      const by = (v: QualityRow['variant']) => rows.find((r) => r.variant === v)!;
      const f32 = by('f32');
      expect(f32.maxLogitErr).toBe(0);
      const demo = m.name === 'demo';
      const report = rows.map((r) => `${r.variant}: err ${r.maxLogitErr.toExponential(2)} rel ${r.relLogitErr.toExponential(2)} argmax ${r.argmaxAgree.toFixed(3)} greedy ${r.greedyAgree.toFixed(3)} dNLL ${(r.nll - f32.nll).toFixed(4)}`).join('\n');
      for (const v of ['q8', 'q8+a'] as const) {
        const r = by(v);
        const minAgree = demo ? 0.9 : v === 'q8' ? 0.8 : 0.7;
        const maxDNll = demo ? 0.01 : v === 'q8' ? 0.1 : 0.15;
        expect(r.argmaxAgree, `${m.name} ${v} argmax agreement\n${report}`).toBeGreaterThanOrEqual(minAgree);
        expect(Math.abs(r.nll - f32.nll), `${m.name} ${v} |ΔNLL|\n${report}`).toBeLessThan(maxDNll);
        expect(r.relLogitErr, `${m.name} ${v} relative logit error\n${report}`).toBeLessThan(v === 'q8' ? 0.2 : 0.35);
      }
      for (const v of ['q4', 'q4+a'] as const) {
        const r = by(v);
        expect(Number.isFinite(r.nll)).toBe(true);
        expect(Math.abs(r.nll - f32.nll), `${m.name} ${v} |ΔNLL|\n${report}`).toBeLessThan(demo ? 0.1 : 0.6);
        if (demo) expect(r.argmaxAgree, `${m.name} ${v} argmax agreement\n${report}`).toBeGreaterThanOrEqual(0.7);
        expect(r.relLogitErr, `${m.name} ${v} relative logit error\n${report}`).toBeLessThan(2.5);
        expect(r.maxLogitErr, `${m.name} q4 error should exceed q8's\n${report}`).toBeGreaterThan(by('q8').maxLogitErr);
      }
    });
  }
});
