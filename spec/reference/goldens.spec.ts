// The reference backend against every golden made by Hugging Face transformers.
//
// Tolerance on logits: |ours − HF| ≤ 5e-5 + 5e-5·|HF|. Why: both sides compute in f32, but PyTorch's
// GEMMs (MKL/oneDNN) and conv accumulate in blocked f32 order while the reference accumulates in f64; the
// differences are ulp-level per op (~1e-7 relative) and grow with depth and sequence length. Measured over
// every golden here (2026-11-29): max 1.7e-5 absolute (falcon-bf16); the bound leaves ≥ 3× headroom while a wrong
// op (a missing norm, a swapped split) moves logits by ≥ 1e-2.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, type ReferenceModel } from '../../src/index.ts';
import { expectClose } from '../helpers/close.ts';
import { defineGoldenSuite, GOLDEN_TOL } from '../helpers/golden-suite.ts';
import { loadGoldenCases, REPO } from '../helpers/goldens.ts';

const cases = loadGoldenCases();
defineGoldenSuite('reference', cases, (dir) => loadModel(dir, { backend: 'reference' }));

// Per-layer hidden states for one case, so a mismatch points at a layer (style.md §6). HF's
// `output_hidden_states` of these models returns the residual stream after each block, with the last one
// replaced by norm_f's output; the fixture JSON records which quantity each entry is (`identified`).
for (const gc of cases.filter((c) => c.raw.hidden_states)) {
  describe(`reference hidden states vs transformers: ${gc.name}`, () => {
    it('every layer matches', async () => {
      const hs = gc.raw.hidden_states;
      const [count, T, H] = hs.shape as number[];
      const b = readFileSync(join(REPO, 'fixtures', 'goldens', hs.file));
      const all = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      expect(all.length).toBe(count * T * H);
      const model = (await loadModel(gc.modelDir, { backend: 'reference' })) as ReferenceModel;
      const seen = new Map<string, Float32Array>();
      model.run(model.createState(), gc.seqs[hs.seq].ids, true, (name, v) => seen.set(name, v.slice()));
      for (const { index, matches } of hs.identified as { index: number; matches: string }[]) {
        const ours = seen.get(matches);
        expect(ours, `trace has ${matches}`).toBeDefined();
        expectClose(ours!, all.subarray(index * T * H, (index + 1) * T * H), GOLDEN_TOL, `${gc.name} hidden state ${index} (${matches})`);
      }
    });
  });
}
