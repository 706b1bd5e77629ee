// Causal depthwise conv: the sequence path equals token-by-token steps. Run: npx tsx docs/examples/conv.ts
import { ops } from '../../src/index.ts';

const L = 6, E = 3, K = 4; // 6 tokens, 3 channels, kernel width 4
const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 97 + i * 13.7));
const x = rand(L * E, 1), w = rand(E * K, 2), bias = rand(E, 3);

// The whole sequence at once, from a fresh (zero) conv state (E, K−1).
const seq = new Float32Array(L * E);
ops.causalConv1d(seq, x, w, bias, new Float32Array(E * (K - 1)), L, E, K);

// One token at a time: the conv state carries the last K−1 inputs.
const state = new Float32Array(E * (K - 1));
const stepped = new Float32Array(L * E);
for (let t = 0; t < L; t++) {
  ops.causalConv1dStep(stepped.subarray(t * E, (t + 1) * E), x.subarray(t * E, (t + 1) * E), w, bias, state, E, K);
}
console.log('step == sequence:', seq.every((v, i) => v === stepped[i]));
