// The selective scan: stepping equals the sequence path, chunks carry state, and the state has constant size.
// Run: npx tsx docs/examples/selective-scan.ts
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ops, loadModel, stateBytes, parseConfig } from '../../src/index.ts';

const L = 9, E = 4, N = 3;
const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 97 + i * 13.7));
const x = rand(L * E, 1), delta = rand(L * E, 2), B = rand(L * N, 3), C = rand(L * N, 4), z = rand(L * E, 5);
const A = rand(E * N, 6).map((v) => -Math.exp(v)); // A = −exp(A_log) < 0, so exp(ΔA) ∈ (0, 1)
const D = rand(E, 7);

// 1. The whole sequence (what prefill does).
const ySeq = new Float32Array(L * E);
const hSeq = new Float32Array(E * N);
ops.selectiveScan(ySeq, x, delta, A, B, C, D, z, hSeq, L, E, N);

// 2. One token at a time (what decode does), carrying h (E, N).
const yStep = new Float32Array(L * E);
const hStep = new Float32Array(E * N);
const rowE = (a: Float32Array, t: number) => a.subarray(t * E, (t + 1) * E);
const rowN = (a: Float32Array, t: number) => a.subarray(t * N, (t + 1) * N);
for (let t = 0; t < L; t++) {
  ops.selectiveScanStep(rowE(yStep, t), rowE(x, t), rowE(delta, t), A, rowN(B, t), rowN(C, t), D, rowE(z, t), hStep, E, N);
}
console.log('step == sequence:', ySeq.every((v, i) => v === yStep[i]) && hSeq.every((v, i) => v === hStep[i]));

// 3. Two chunks (chunked prefill): the state after chunk 1 is all chunk 2 needs.
const cut = 4;
const yChunk = new Float32Array(L * E);
const h = new Float32Array(E * N);
ops.selectiveScan(yChunk, x, delta, A, B, C, D, z, h, cut, E, N);
const s = (a: Float32Array, w: number) => a.subarray(cut * w);
ops.selectiveScan(s(yChunk, E), s(x, E), s(delta, E), A, s(B, N), s(C, N), D, s(z, E), h, L - cut, E, N);
console.log('chunked == sequence:', ySeq.every((v, i) => v === yChunk[i]));

// 4. The same on a whole model (a tiny test checkpoint): prefill(ids) vs step() per token.
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const model = await loadModel(path.join(repo, 'fixtures/models/falcon-odd'), { backend: 'reference' });
const ids = [3, 14, 15, 9, 2, 6];
const viaPrefill = await model.prefill(model.createState(), ids);
const st = model.createState();
let viaStep: Float32Array = new Float32Array(0);
for (const id of ids) viaStep = await model.step(st, id);
console.log('model prefill == step:', viaPrefill.every((v, i) => Math.abs(v - viaStep[i]) <= 1e-5 * (1 + Math.abs(v))));

// 5. The state does not grow with the prompt: FalconMamba-7B's, whatever the prompt length.
const c7b = parseConfig({
  model_type: 'falcon_mamba', hidden_size: 4096, intermediate_size: 8192, state_size: 16, conv_kernel: 4,
  time_step_rank: 256, num_hidden_layers: 64, vocab_size: 65024, layer_norm_epsilon: 1e-5, mixer_rms_eps: 1e-6,
});
console.log('7B state bytes:', stateBytes(c7b), `(${(stateBytes(c7b) / 2 ** 20).toFixed(1)} MiB)`);
