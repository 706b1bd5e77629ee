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
  dtBCRmsNorm(dbc: Ptr, L: number, R: number, N: number, eps: number): void;
  bf16BlockCols(cols: number): number;
  bf16Interleave(W: Ptr, rows: number, cols: number): void;
  linearF32(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearF32Rows(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  linearBf16(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearBf16Rows(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number, ld: number, r0: number, r1: number): void;
  linearF16(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearF16Rows(out: Ptr, x: Ptr, W: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  embedF32(out: Ptr, table: Ptr, ids: Ptr, L: number, D: number): void;
  embedBf16(out: Ptr, table: Ptr, ids: Ptr, L: number, D: number, V: number): void;
  embedF16(out: Ptr, table: Ptr, ids: Ptr, L: number, D: number): void;
  causalConv1d(out: Ptr, x: Ptr, w: Ptr, bias: Ptr, convState: Ptr, L: number, E: number, K: number): void;
  causalConv1dRows(out: Ptr, x: Ptr, w: Ptr, bias: Ptr, convState: Ptr, L: number, E: number, K: number, c0: number, c1: number): void;
  causalConv1dStep(out: Ptr, x: Ptr, w: Ptr, bias: Ptr, convState: Ptr, E: number, K: number): void;
  selectiveScan(y: Ptr, x: Ptr, delta: Ptr, A: Ptr, B: Ptr, C: Ptr, D: Ptr, z: Ptr, state: Ptr, L: number, E: number, N: number, bcStride: number): void;
  selectiveScanRows(y: Ptr, x: Ptr, delta: Ptr, A: Ptr, B: Ptr, C: Ptr, D: Ptr, z: Ptr, state: Ptr, L: number, E: number, N: number, bcStride: number, c0: number, c1: number): void;
  selectiveScanStep(y: Ptr, x: Ptr, delta: Ptr, A: Ptr, B: Ptr, C: Ptr, D: Ptr, z: Ptr, state: Ptr, E: number, N: number): void;
  residualAdd(h: Ptr, o: Ptr, n: number): void;
  copyRows(out: Ptr, x: Ptr, L: number, n: number, stride: number): void;
  streamRead(p: Ptr, bytes: number): number;
  // Quantized weights (assembly/quant.ts, docs/quantization.md).
  quantizeActivationQ8(xq: Ptr, xd: Ptr, x: Ptr, L: number, n: number): void;
  linearQ8(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearQ4(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearQ8Rows(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  linearQ4Rows(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  embedQ8(out: Ptr, wq: Ptr, wd: Ptr, ids: Ptr, L: number, D: number): void;
  embedQ4(out: Ptr, wq: Ptr, wd: Ptr, ids: Ptr, L: number, D: number): void;
  quantizeQ8(wq: Ptr, wd: Ptr, W: Ptr, rows: number, cols: number, dtype: number): void;
  quantizeQ4(wq: Ptr, wd: Ptr, W: Ptr, rows: number, cols: number, dtype: number): void;
}

/** The ABI version this TypeScript side was written against (assembly/index.ts `abiVersion`). */
export const KERNELS_ABI = 3;

/** Bytes per wasm page. */
export const PAGE = 65536;

/** Reads and compiles build/kernels.wasm (a few kB). Works unchanged in Node and Deno. */
export async function compileKernels(): Promise<WebAssembly.Module> {
  const url = new URL('../../build/kernels.wasm', import.meta.url);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(url);
  } catch {
    throw new Error(`${url.pathname} is missing: run \`npm run build\` (asc, assembly/ → build/kernels.wasm)`);
  }
  return WebAssembly.compile(bytes);
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
