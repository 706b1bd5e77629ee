// assembly/norm.ts `rmsNorm` = src/reference/ops.ts `rmsNorm`.
// Tolerance |a − b| ≤ 1e-6 + 1e-6·|ref|: both sum squares in f64 and round the same f32 steps; only the
// order of nothing differs, so in practice they agree to the bit.
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { rmsNorm } from '../../src/reference/ops.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelBench, rand, SIZES, type Bench } from './harness.ts';

const TOL = { atol: 1e-6, rtol: 1e-6 };
let b: Bench;
beforeAll(async () => (b = await kernelBench()));

describe('rmsNorm (wasm) = reference', () => {
  it('over awkward widths, row counts, with and without gain, and in place', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SIZES, 1024), fc.integer({ min: 1, max: 6 }), fc.boolean(), fc.boolean(), fc.integer(), (n, L, gain, inPlace, seed) => {
        b.reset();
        const x = rand(L * n, seed, 3);
        const w = rand(n, seed + 1, 0.5, 1);
        const ref = new Float32Array(L * n);
        rmsNorm(ref, x, gain ? w : null, L, n, 1e-5);
        const px = b.f32(x);
        const out = inPlace ? px : b.f32(new Float32Array(L * n));
        b.k.rmsNorm(out, px, gain ? b.f32(w) : 0, L, n, 1e-5);
        expectClose(b.read(out, L * n), ref, TOL, `rmsNorm n=${n} L=${L}`);
      }),
      { seed: 4, numRuns: 120 },
    );
  });
});
