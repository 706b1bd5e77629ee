// RMSNorm: y = x / sqrt(mean(x²) + eps) · w. Run: npx tsx docs/examples/rmsnorm.ts
import { ops } from '../../src/index.ts';

const n = 5;
const x = Float32Array.from([1, -2, 3, 0.5, 4]);
const w = Float32Array.from([1, 1, 2, 1, 0.5]);
const eps = 1e-5;

const out = new Float32Array(n);
ops.rmsNorm(out, x, w, 1, n, eps); // L = 1 row of width n

// The formula, written out.
const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / n + eps);
const byHand = x.map((v, i) => (v / rms) * w[i]);
console.log('out:', Array.from(out, (v) => v.toFixed(4)).join(' '));
console.log('matches formula:', out.every((v, i) => Math.abs(v - byHand[i]) < 1e-6));

// Without a weight (FalconMamba's dt/B/C norms) the output has rms 1.
ops.rmsNorm(out, x, null, 1, n, eps);
console.log('rms without weight:', Math.sqrt(out.reduce((s, v) => s + v * v, 0) / n).toFixed(4));
