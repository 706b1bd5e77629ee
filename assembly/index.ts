// WebAssembly SIMD kernels of FalconMamba / Mamba-1, each the twin of a function in src/reference/ops.ts
// (same name and argument order; tensors are byte offsets into the one imported memory). docs/kernels.md
// describes what differs from the reference (fusion, layouts, dtypes) and how each is tested; the symbols
// (H, E, N, R, K, L) and step numbers are those of docs/math.md.
export { rmsNorm, rmsNormRows, dtBCRmsNorm } from './norm';
export { bf16BlockCols, bf16Interleave, linearF32, linearF32Rows, linearBf16, linearBf16Rows, linearBf16BatchRows, linearF16, linearF16Rows } from './linear';
export { embedF32, embedBf16, embedF16 } from './embed';
export { causalConv1dSilu, causalConv1dSiluStep, causalConv1dSiluRows, causalConv1dSiluBatchRows } from './conv';
export { selectiveScan, selectiveScanStep, selectiveScanRows, selectiveScanBatchRows } from './scan';
export { residualAdd, copyRows, streamRead } from './elementwise';
export * from './quant';
export { activationSums16, linearQK, linearQKRows, embedQK } from './qk';

/** Version of the kernels' ABI (names, argument lists and layouts); src/wasm/kernels.ts checks it. */
export function abiVersion(): i32 {
  return 6;
}

/** First byte past the module's static data: the memory plan starts above it. */
export function heapBase(): usize {
  return __heap_base;
}
