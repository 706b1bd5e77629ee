// FalconMamba's dt/B/C norms: a weightless RMS norm of each slice of x_proj's output.
// Run: npx tsx docs/examples/falcon-norms.ts
import { ops } from '../../src/index.ts';

const L = 2, R = 3, N = 4, W = R + 2 * N; // x_proj output per token: [dt (R) | B (N) | C (N)]
const dbc = Float32Array.from({ length: L * W }, (_, i) => 5 * Math.sin(i * 1.3) + 2);
ops.dtBCRmsNorm(dbc, L, R, N, 1e-6);

const rms = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
const ok = [0, 1].every((t) => {
  const row = dbc.subarray(t * W, (t + 1) * W);
  return [row.subarray(0, R), row.subarray(R, R + N), row.subarray(R + N)].every((p) => Math.abs(rms(p) - 1) < 1e-5);
});
console.log('dt, B, C each have rms 1:', ok);
