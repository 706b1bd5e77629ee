// The wasm backend against every golden made by Hugging Face transformers: the shared public set
// (../shared/goldens) and the project's fixtures (fixtures/goldens/*.json, when present), on 1 and 2 threads,
// and the plain-SIMD build of the kernels on 2 threads.
//
// Tolerance on logits: the same rule as the reference backend (spec/reference/goldens.spec.ts),
// |ours − HF| ≤ 5e-5 + 5e-5·|HF|. The wasm kernels sum in f32 SIMD lanes and use a polynomial exp in the scan,
// so they sit a few ulp further from HF than the f64-summing reference; measured ≤ ~2e-5 on these models
// (logits of magnitude ≤ ~10), while a wrong op moves logits by ≥ 1e-2. Argmax at every position and the
// 16-token greedy continuation (prefill + step) must be identical.
import { loadModel } from '../../src/index.ts';
import { defineGoldenSuite } from '../helpers/golden-suite.ts';
import { loadGoldenCases } from '../helpers/goldens.ts';

const cases = loadGoldenCases();
for (const threads of [1, 2]) {
  defineGoldenSuite(`wasm, threads ${threads}`, cases, (dir) => loadModel(dir, { backend: 'wasm', threads }));
}
// The plain-SIMD build too (the default is the relaxed build wherever the runtime has relaxed SIMD).
defineGoldenSuite('wasm plain SIMD build, threads 2', cases, (dir) => loadModel(dir, { backend: 'wasm', threads: 2, simd: 'plain' }));
