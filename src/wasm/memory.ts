/**
 * The memory plan: every buffer of one wasm instance (weights, scratch, state slots) gets a fixed byte offset,
 * computed before the memory is created, so the memory never grows and kernels are called with plain offsets.
 * JavaScript touches the memory only through short-lived views made at the moment of a copy (`f32`, `u8`), never
 * kept across calls — the rule that keeps the thread pool and the multi-memory split safe.
 */

/** Alignment of every region: a cache line, so SIMD loads never straddle lines at a row start. */
export const ALIGN = 64;

/** A region of the plan. */
export interface Region {
  name: string;
  offset: number;
  bytes: number;
}

/** A bump allocator over one memory's address space; `offset 0 .. base` is the module's static data. */
export class MemoryPlan {
  readonly regions: Region[] = [];
  private top: number;

  /** @param base first free byte (above the kernels' static data; never 0, which means "no tensor"). */
  constructor(base: number) {
    this.top = Math.max(ALIGN, Math.ceil(base / ALIGN) * ALIGN);
  }

  /** Reserves `bytes` (aligned) and returns the offset. */
  alloc(name: string, bytes: number): number {
    const offset = this.top;
    this.regions.push({ name, offset, bytes });
    this.top += Math.ceil(Math.max(bytes, 1) / ALIGN) * ALIGN;
    return offset;
  }

  /** Bytes the memory must have. */
  get size(): number {
    return this.top;
  }
}

/** An f32 view of `n` floats at byte offset `p`: make it, use it, drop it. */
export function f32(memory: WebAssembly.Memory, p: number, n: number): Float32Array {
  return new Float32Array(memory.buffer, p, n);
}

/** A byte view of `n` bytes at offset `p`. */
export function u8(memory: WebAssembly.Memory, p: number, n: number): Uint8Array {
  return new Uint8Array(memory.buffer, p, n);
}
