/**
 * The reference's trace against transformers': for every fixtures/goldens/*.trace.safetensors
 * made by fixtures/make_fixtures.py --trace, trace the same fixture model on the same ids and check every HF
 * tensor, mapped onto our names (src/oracle/hf-names.ts), within a stated tolerance, printing the worst
 * element on failure. Fails loudly when no HF trace exists.
 *
 * Tolerance: |ours − HF| ≤ 1e-6 + 1e-4·max(|HF|, rms(HF tensor)) elementwise (the compare rule,
 * src/oracle/compare.ts). Last measured worst ratio |diff| / max(|HF|, rms): 1.1e-5 (mamba-bias
 * layers.1.mixer.scan.y, a channel whose softplus input is > 20 so Δ·B·x is O(10)).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/load.ts';
import { compareTraces, fromHfTrace, isHfTrace, readTrace, traceForward, traceNames } from '../../src/oracle/index.ts';
import { expectClose } from '../helpers/close.ts';
import { REPO } from '../helpers/goldens.ts';

const DIR = join(REPO, 'fixtures', 'goldens');
const TOL = { atol: 1e-6, rtol: 1e-4 };
const files = existsSync(DIR) ? readdirSync(DIR).filter((f) => f.endsWith('.trace.safetensors')).sort() : [];

describe('HF traces exist', () => {
  it('fixtures/goldens has at least one *.trace.safetensors (python3 fixtures/make_fixtures.py --out fixtures --trace)', () => {
    expect(files.length, `no HF trace in ${DIR}; regenerate: python3 fixtures/make_fixtures.py --out fixtures --check --trace`).toBeGreaterThan(0);
  });
});

for (const file of files) {
  describe(`reference trace vs transformers: ${file}`, () => {
    it('every HF tensor has our counterpart and agrees within tolerance', async () => {
      const hf = await readTrace(join(DIR, file));
      expect(isHfTrace(hf.tensors, hf.metadata)).toBe(true);
      expect(hf.ids, 'ids in the trace metadata').not.toBeNull();
      const modelDir = hf.metadata.model ? resolve(REPO, hf.metadata.model) : join(REPO, 'fixtures', 'models', file.replace(/\.trace\.safetensors$/, ''));
      const model = await loadModel(modelDir, { backend: 'reference' });
      const ours = await traceForward(model, hf.ids!);
      const theirs = fromHfTrace(hf.tensors, model.config.dConv);
      const byName = new Map(ours.map((t) => [t.name, t]));

      // Names line up: every HF tensor is one of ours, and ours are exactly the documented list.
      expect(ours.map((t) => t.name)).toEqual(traceNames(model.config.nLayer, model.config.dtBCNorm));
      const missing = theirs.filter((t) => !byName.has(t.name)).map((t) => t.name);
      expect(missing, 'HF tensors without a counterpart in our trace').toEqual([]);
      const notInHf = ours.filter((t) => !theirs.some((h) => h.name === t.name)).map((t) => t.name);
      expect(notInHf, 'our tensors that the HF trace lacks').toEqual([]);

      // Values, tensor by tensor in forward order, the worst element printed on failure.
      const r = compareTraces(ours, theirs, { ...TOL, strict: true });
      const worst = r.rows.reduce((w, x) => (x.maxRel > w.maxRel ? x : w));
      console.log(`${file}: ${r.compared} tensors, worst max-rel ${worst.maxRel.toExponential(2)} at ${worst.name} (max|abs| ${worst.maxAbs.toExponential(2)})`);
      for (const h of theirs) {
        const o = byName.get(h.name)!;
        expect(o.shape, h.name).toEqual(h.shape);
        if (!r.rows.find((x) => x.name === h.name)!.ok) {
          // close.ts's message names the worst element; its rule is elementwise, so give it the row's scale.
          let rms = 0;
          for (const v of h.data) rms += v * v;
          rms = Math.sqrt(rms / h.data.length);
          expectClose(o.data, h.data, { atol: TOL.atol + TOL.rtol * rms, rtol: TOL.rtol }, h.name);
        }
      }
      expect(r.first?.name ?? null, 'first tensor outside tolerance').toBeNull();
    });
  });
}
