/**
 * The compiled kernels of `assembly/` (build/kernels.wasm, made by `npm run build`), typed.
 * Every tensor argument is a byte offset into the instance's memory; `0` means "none" for optional tensors
 * (the memory plan never places a tensor at offset 0). Shapes are the ones in each kernel's contract in
 * assembly/*.ts, which mirror src/reference/ops.ts.
 */
import { readFile } from 'node:fs/promises';

type Ptr = number;

/** The exports of build/kernels.wasm (see assembly/index.ts). */
export interface Kernels {
  abiVersion(): number;
  heapBase(): number;
  rmsNorm(out: Ptr, x: Ptr, weight: Ptr, L: number, n: number, eps: number): void;
  rmsNormRows(out: Ptr, x: Ptr, weight: Ptr, L: number, n: number, eps: number, r0: number, r1: number): void;
  dtBCRmsNorm(dbc: Ptr, L: number, R: number, N: number, eps: number): void;
  bf16BlockCols(cols: number): number;
  bf16Interleave(W: Ptr, rows: number, cols: number): void;
  linearF32(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearF32Rows(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  linearBf16(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearBf16Rows(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number, ld: number, r0: number, r1: number): void;
  linearBf16BatchRows(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number, ld: number, r0: number, r1: number): void;
  linearF16(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearF16Rows(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  embedF32(out: Ptr, table: Ptr, ids: Ptr, L: number, D: number): void;
  embedBf16(out: Ptr, table: Ptr, ids: Ptr, L: number, D: number, V: number): void;
  embedF16(out: Ptr, table: Ptr, ids: Ptr, L: number, D: number): void;
  causalConv1dSilu(out: Ptr, x: Ptr, w: Ptr, bias: Ptr, convState: Ptr, L: number, E: number, K: number): void;
  causalConv1dSiluRows(out: Ptr, x: Ptr, w: Ptr, bias: Ptr, convState: Ptr, L: number, E: number, K: number, c0: number, c1: number): void;
  causalConv1dSiluStep(out: Ptr, x: Ptr, w: Ptr, bias: Ptr, convState: Ptr, E: number, K: number): void;
  selectiveScan(y: Ptr, x: Ptr, delta: Ptr, A: Ptr, B: Ptr, C: Ptr, D: Ptr, z: Ptr, state: Ptr, L: number, E: number, N: number, bcStride: number): void;
  causalConv1dSiluBatchRows(out: Ptr, x: Ptr, w: Ptr, bias: Ptr, states: Ptr, S: number, E: number, K: number, c0: number, c1: number): void;
  selectiveScanBatchRows(y: Ptr, x: Ptr, delta: Ptr, A: Ptr, B: Ptr, C: Ptr, D: Ptr, z: Ptr, states: Ptr, S: number, E: number, N: number, bcStride: number, c0: number, c1: number): void;
  selectiveScanRows(y: Ptr, x: Ptr, delta: Ptr, A: Ptr, B: Ptr, C: Ptr, D: Ptr, z: Ptr, state: Ptr, L: number, E: number, N: number, bcStride: number, c0: number, c1: number): void;
  selectiveScanStep(y: Ptr, x: Ptr, delta: Ptr, A: Ptr, B: Ptr, C: Ptr, D: Ptr, z: Ptr, state: Ptr, E: number, N: number): void;
  residualAdd(h: Ptr, o: Ptr, n: number): void;
  copyRows(out: Ptr, x: Ptr, L: number, n: number, stride: number): void;
  streamRead(p: Ptr, bytes: number): number;
  // Quantized weights (assembly/quant.ts, docs/quantization.md).
  quantizeActivationQ8(xq: Ptr, xd: Ptr, x: Ptr, L: number, n: number): void;
  quantizeActivationQ8Rows(xq: Ptr, xd: Ptr, x: Ptr, L: number, n: number, r0: number, r1: number): void;
  linearQ8(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearQ4(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearQ8Rows(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  linearQ8BatchRows(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  linearQ4BatchRows(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  linearQ4Rows(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  embedQ8(out: Ptr, wq: Ptr, wd: Ptr, ids: Ptr, L: number, D: number): void;
  embedQ4(out: Ptr, wq: Ptr, wd: Ptr, ids: Ptr, L: number, D: number): void;
  quantizeQ8(wq: Ptr, wd: Ptr, W: Ptr, rows: number, cols: number, dtype: number): void;
  quantizeQ4(wq: Ptr, wd: Ptr, W: Ptr, rows: number, cols: number, dtype: number): void;
  quantizeQ8Rows(wq: Ptr, wd: Ptr, W: Ptr, rows: number, cols: number, dtype: number, r0: number, r1: number): void;
  quantizeQ4Rows(wq: Ptr, wd: Ptr, W: Ptr, rows: number, cols: number, dtype: number, r0: number, r1: number): void;
  // The qk format (assembly/qk.ts: GGUF Q4_1, Q5_1 and K-quants, losslessly; src/reference/quant-qk.ts).
  activationSums16(xs: Ptr, xq: Ptr, xd: Ptr, L: number, n: number): void;
  linearQK(out: Ptr, xq: Ptr, xd: Ptr, xs: Ptr, wq: Ptr, wd: Ptr, wm: Ptr, bias: Ptr, L: number, inF: number, outF: number, group: number): void;
  linearQKRows(out: Ptr, xq: Ptr, xd: Ptr, xs: Ptr, wq: Ptr, wd: Ptr, wm: Ptr, bias: Ptr, L: number, inF: number, outF: number, group: number, r0: number, r1: number): void;
  embedQK(out: Ptr, wq: Ptr, wd: Ptr, wm: Ptr, ids: Ptr, L: number, D: number, group: number): void;
}

/** The ABI version this TypeScript side was written against (assembly/index.ts `abiVersion`). */
export const KERNELS_ABI = 6;

/** Bytes per wasm page. */
export const PAGE = 65536;

/**
 * The two builds of the kernels (`npm run build`): `plain` (build/kernels.wasm, SIMD128 only) and `relaxed`
 * (build/kernels-relaxed.wasm, the same source with relaxed SIMD: fused multiply-add in the matmul accumulations,
 * ~40% faster prefill tiles here). Their results differ only in the rounding of those products; both are held to
 * the transformers goldens.
 */
export type SimdBuild = 'plain' | 'relaxed';

async function readBuild(file: string): Promise<Uint8Array> {
  const url = new URL(`../../build/${file}`, import.meta.url);
  try {
    return await readFile(url);
  } catch {
    throw new Error(`${url.pathname} is missing: run \`npm run build\` (asc, assembly/ → build/${file})`);
  }
}

/**
 * Whether this runtime accepts relaxed-SIMD code. Deno and Node ≥ 21 do by default; Node 20 (V8 11.3) has it
 * behind `--experimental-wasm-relaxed-simd`, which is turned on here the first time it is needed: a process-wide
 * V8 flag, but one that only adds instructions (nothing that ran before changes), and it must be set before the
 * module is compiled (worker threads started afterwards inherit it).
 */
async function relaxedSimdSupported(bytes: Uint8Array): Promise<boolean> {
  if (WebAssembly.validate(bytes)) return true;
  try {
    const v8 = await import('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return WebAssembly.validate(bytes);
}

/**
 * Reads and compiles the kernels (a few kB): with `simd: 'auto'` (default) the relaxed build where the runtime
 * supports it, else the plain one; `'plain'` / `'relaxed'` force one (`'relaxed'` throws if unsupported).
 * Works unchanged in Node and Deno.
 */
export async function compileKernelsBuild(simd: 'auto' | SimdBuild = 'auto'): Promise<{ module: WebAssembly.Module; build: SimdBuild }> {
  if (simd !== 'plain') {
    const bytes = await readBuild('kernels-relaxed.wasm');
    if (await relaxedSimdSupported(bytes)) return { module: await WebAssembly.compile(bytes), build: 'relaxed' };
    if (simd === 'relaxed') throw new Error('this runtime does not support relaxed SIMD (simd: "relaxed" was asked)');
  }
  return { module: await WebAssembly.compile(await readBuild('kernels.wasm')), build: 'plain' };
}

/** {@link compileKernelsBuild}'s module alone. */
export async function compileKernels(simd: 'auto' | SimdBuild = 'auto'): Promise<WebAssembly.Module> {
  return (await compileKernelsBuild(simd)).module;
}

/** A shared memory of exactly `bytes` (rounded up to pages); fixed size, so views of it never go stale. */
export function createMemory(bytes: number): WebAssembly.Memory {
  const pages = Math.ceil(bytes / PAGE);
  if (pages > 65536) throw new RangeError(`a wasm32 memory holds at most 4 GiB; ${bytes} bytes asked`);
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

/** Instantiates the kernels over `memory` (one instance per memory; a worker may make its own over the same). */
export async function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<Kernels> {
  const inst = await WebAssembly.instantiate(module, {
    env: {
      memory,
      abort: () => {
        throw new Error('wasm kernel abort');
      },
    },
  });
  const k = inst.exports as unknown as Kernels;
  if (k.abiVersion() !== KERNELS_ABI) {
    throw new Error(`build/kernels.wasm has ABI ${k.abiVersion()}, expected ${KERNELS_ABI}: run \`npm run build\``);
  }
  return k;
}
