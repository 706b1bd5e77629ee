// assembly/norm.ts `dtBCRmsNorm` = src/reference/ops.ts `dtBCRmsNorm` (FalconMamba's weightless norm of dt, B, C).
// Tolerance |a − b| ≤ 1e-6 + 1e-6·|ref| (same f64 sums as the reference).
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { dtBCRmsNorm } from '../../src/reference/ops.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelBench, rand, type Bench } from './harness.ts';

const TOL = { atol: 1e-6, rtol: 1e-6 };
let b: Bench;
beforeAll(async () => (b = await kernelBench()));

describe('dtBCRmsNorm (wasm) = reference', () => {
  it('over dtRank 1..64, dState 4/8/16 and odd, several rows', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 3, 5, 8, 17, 64), fc.constantFrom(1, 3, 4, 8, 16), fc.integer({ min: 1, max: 9 }), fc.integer(), (R, N, L, seed) => {
        b.reset();
        const dbc = rand(L * (R + 2 * N), seed, 4);
        const ref = dbc.slice();
        dtBCRmsNorm(ref, L, R, N, 1e-6);
        const p = b.f32(dbc);
        b.k.dtBCRmsNorm(p, L, R, N, 1e-6);
        expectClose(b.read(p, dbc.length), ref, TOL, `dtBCRmsNorm R=${R} N=${N} L=${L}`);
      }),
      { seed: 5, numRuns: 100 },
    );
  });
});
