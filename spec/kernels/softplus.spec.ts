// softplus, the reference's (src/reference/ops.ts) and the wasm scan's (assembly/common.ts `softplus` for the
// scalar channels, `softplusv` for 4 channels at a time), against a table made by PyTorch
// (fixtures/softplus.json, fixtures/make_softplus.py): x from −30 to 40, 20 and its neighbours, f32 in and out.
// The model fixtures' dt biases never put Δ in (3, 20), where softplus bends into the identity, so without this
// table a wrong threshold (4 instead of 20) passes every golden.
//
// Rule: |ours − torch| ≤ 2^−22·|torch| (2 ulp at the bottom of a binade, atol 0: values go down to 1e−13).
// Measured: reference 1.19e−7 relative (its f64 log1p rounded once vs PyTorch's f32 kernel: 1 ulp apart at 91
// of 1002 points), wasm 1.86e−7 (polynomial exp and log1p).
//
// The wasm softplus is inlined into the scan, so it is read through the state: with A = 0, B = 1, x = 1 and a
// zero state, one step leaves h = exp(0)·0 + (Δ·1)·1 = Δ exactly.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, it } from 'vitest';
import { linear, softplus } from '../../src/reference/ops.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelBench, type Bench } from './harness.ts';

const TABLE = JSON.parse(readFileSync(new URL('../../fixtures/softplus.json', import.meta.url), 'utf8'));
const X = Float32Array.from(TABLE.points.x as number[]);
const Y = Float32Array.from(TABLE.points.y as number[]);
const TOL = { atol: 0, rtol: 2 ** -22 };

/** Δ = softplus(delta) per channel, read back from the wasm scan's state (see the header). */
function wasmSoftplus(b: Bench, delta: Float32Array, E: number): Float32Array {
  b.reset();
  const zeros = new Float32Array(E);
  const state = b.f32(zeros);
  b.k.selectiveScanStep(b.f32(zeros), b.f32(new Float32Array(E).fill(1)), b.f32(delta), b.f32(zeros), b.f32([1]), b.f32([1]), b.f32(zeros), b.f32(zeros), state, E, 1);
  return b.read(state, E);
}

describe('softplus against PyTorch (fixtures/softplus.json)', () => {
  let b: Bench;
  beforeAll(async () => (b = await kernelBench(16 << 20)));

  it('the table covers the bend and both sides of the threshold', () => {
    const has = (lo: number, hi: number) => X.some((v) => v > lo && v < hi);
    if (!(has(-31, -29) && has(3, 20) && has(20, 20.00001) && has(19.9999, 20) && X.includes(20) && has(39, 41))) {
      throw new Error('fixtures/softplus.json no longer spans (−30, 40) with 20 and its neighbours');
    }
  });

  it('reference softplus = torch.nn.functional.softplus', () => {
    expectClose(X.map(softplus), Y, TOL, 'reference softplus');
  });

  it('wasm softplusv (4 channels at a time) = torch', () => {
    const E = X.length & ~3;
    expectClose(wasmSoftplus(b, X.subarray(0, E), E), Y.subarray(0, E), TOL, 'wasm softplusv');
  });

  it('wasm scalar softplus (channels past the last multiple of 4) = torch', () => {
    // E = 3: every channel takes the scalar path.
    const got = new Float32Array(X.length);
    for (let i = 0; i < X.length; i += 3) {
      const d = X.slice(i, i + 3);
      const padded = new Float32Array(3);
      padded.set(d);
      got.set(wasmSoftplus(b, padded, 3).subarray(0, d.length), i);
    }
    expectClose(got, Y, TOL, 'wasm scalar softplus');
  });

  it('the dt_proj path: softplus(dtr · Wᵀ + b) with the bias spread over (−30, 40)', () => {
    const { L, R, E } = TABLE.dt_proj;
    const delta = new Float32Array(L * E);
    linear(delta, Float32Array.from(TABLE.dt_proj.dtr), Float32Array.from(TABLE.dt_proj.W), Float32Array.from(TABLE.dt_proj.b), L, R, E);
    // PyTorch sums the R products in f32, the reference in f64: a few ulp of |delta| ≤ 42 apart (measured 3.8e−6);
    // softplus' slope is below 1 and dt ≥ e^delta·(1−…), so dt's relative error is at most delta's absolute one.
    expectClose(delta, Float32Array.from(TABLE.dt_proj.delta), { atol: 1e-5, rtol: 0 }, 'dt_proj.out');
    const dt = Float32Array.from(TABLE.dt_proj.dt);
    expectClose(delta.map(softplus), dt, { atol: 0, rtol: 1e-5 }, 'reference Δ');
    expectClose(wasmSoftplus(b, delta, L * E), dt, { atol: 0, rtol: 1e-5 }, 'wasm Δ');
  });
});
