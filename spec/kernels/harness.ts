/**
 * A test bench for single kernels: one kernel instance over a fresh memory, a bump allocator, and copies in
 * and out. Each spec here runs a kernel of build/kernels.wasm against its twin in src/reference/ops.ts.
 */
import { compileKernels, createMemory, instantiateKernels, type Kernels, type SimdBuild } from '../../src/wasm/kernels.ts';
import { MemoryPlan } from '../../src/wasm/memory.ts';
import { rng } from '../helpers/tiny-model.ts';

export interface Bench {
  k: Kernels;
  memory: WebAssembly.Memory;
  /** Frees everything allocated so far. */
  reset(): void;
  /** Copies f32 values in; returns the offset. */
  f32(a: ArrayLike<number>): number;
  /** Copies u16 values (bf16/f16 bits) in. */
  u16(a: ArrayLike<number>): number;
  /** Copies i32 values in. */
  i32(a: ArrayLike<number>): number;
  /** Reads n f32 values at offset p (a copy). */
  read(p: number, n: number): Float32Array;
}

/** A kernel bench with `bytes` of memory, over the build the engine would pick (or the one named). */
export async function kernelBench(bytes = 64 << 20, simd: 'auto' | SimdBuild = 'auto'): Promise<Bench> {
  const memory = createMemory(bytes);
  const k = await instantiateKernels(await compileKernels(simd), memory);
  let plan = new MemoryPlan(k.heapBase());
  const put = (bytesPer: number, Ctor: any, a: ArrayLike<number>) => {
    const p = plan.alloc('t', Math.max(a.length, 1) * bytesPer);
    if (plan.size > memory.buffer.byteLength) throw new Error('kernel bench memory exhausted');
    new Ctor(memory.buffer, p, a.length).set(a);
    return p;
  };
  return {
    k,
    memory,
    reset: () => (plan = new MemoryPlan(k.heapBase())),
    f32: (a) => put(4, Float32Array, a),
    u16: (a) => put(2, Uint16Array, a),
    i32: (a) => put(4, Int32Array, a),
    read: (p, n) => new Float32Array(memory.buffer, p, n).slice(),
  };
}

/** n seeded uniform values in (offset − scale, offset + scale). */
export function rand(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = offset + (r() * 2 - 1) * scale;
  return a;
}

/** Rounds f32 values to bf16 (round to nearest even): returns the bits and the exact f32 values they stand for. */
export function toBf16(a: Float32Array): { bits: Uint16Array; values: Float32Array } {
  const u = new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
  const bits = new Uint16Array(a.length);
  const values = new Float32Array(a.length);
  const vu = new Uint32Array(values.buffer);
  for (let i = 0; i < a.length; i++) {
    const b = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
    bits[i] = b;
    vu[i] = b << 16;
  }
  return { bits, values };
}

/** f32 values → f16 bits (round to nearest via Math.fround-free scaling; normal range only) and their exact values. */
export function toF16(a: Float32Array): { bits: Uint16Array; values: Float32Array } {
  const bits = new Uint16Array(a.length);
  const values = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    const s = v < 0 || Object.is(v, -0) ? 1 : 0;
    const m = Math.abs(v);
    let h: number;
    if (m < 2 ** -24) h = 0;
    else if (m < 2 ** -14) h = Math.round(m / 2 ** -24); // subnormal
    else {
      const e = Math.floor(Math.log2(m));
      let frac = Math.round((m / 2 ** e - 1) * 1024);
      let ee = e;
      if (frac === 1024) { frac = 0; ee++; }
      h = ((ee + 15) << 10) | frac;
    }
    bits[i] = (s << 15) | h;
    const he = (h >> 10) & 31, hm = h & 1023;
    const val = he === 0 ? hm * 2 ** -24 : (1 + hm / 1024) * 2 ** (he - 15);
    values[i] = s ? -val : val;
  }
  return { bits, values };
}

/** The awkward sizes every kernel spec draws from: 1, odd, not multiples of 4/8/16/32, and a few round ones. */
export const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 63, 64, 65, 100];
