/**
 * A small harness to call the quantized kernels (assembly/quant.ts) from specs and benches without the engine:
 * a shared `WebAssembly.Memory`, a bump allocator over it, and copies in and out through short-lived views.
 *
 * Two sources for the module:
 *   - `'standalone'`: assembly/quant.ts compiled on its own by `asc` into a temp dir with asconfig.json's options
 *     (always matches the source; ~5 s);
 *   - `'build'`: build/kernels.wasm as `npm run build` makes it (the engine's module, which re-exports quant.ts);
 *   - `'standalone-relaxed'`, `'build-relaxed'`: the same with relaxed SIMD (asconfig.json's `relaxed` target,
 *     build/kernels-relaxed.wasm), where the q4 kernels take a different integer path; on Node 20 this turns on
 *     V8's relaxed-SIMD flag first, as the engine does (src/wasm/kernels.ts).
 */
import v8 from 'node:v8';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './goldens.ts';

type Ptr = number;

/** The exports of assembly/quant.ts (byte offsets into the memory; `0` = no bias). */
export interface QuantKernels {
  quantizeActivationQ8(xq: Ptr, xd: Ptr, x: Ptr, L: number, n: number): void;
  linearQ8(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearQ8Rows(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  linearQ4(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number): void;
  linearQ4Rows(out: Ptr, xq: Ptr, xd: Ptr, wq: Ptr, wd: Ptr, bias: Ptr, L: number, inF: number, outF: number, r0: number, r1: number): void;
  embedQ8(out: Ptr, wq: Ptr, wd: Ptr, ids: Ptr, L: number, D: number): void;
  embedQ4(out: Ptr, wq: Ptr, wd: Ptr, ids: Ptr, L: number, D: number): void;
  /** dtype of W: 0 f32, 1 bf16, 2 f16. */
  quantizeQ8(wq: Ptr, wd: Ptr, W: Ptr, rows: number, cols: number, dtype: number): void;
  quantizeQ4(wq: Ptr, wd: Ptr, W: Ptr, rows: number, cols: number, dtype: number): void;
  /** out (rows, nb) i32 = the exact integer block dots of one token (kind 8 = q8, 4 = q4). */
  blockDotsQ(kind: number, out: Ptr, xq: Ptr, wq: Ptr, nb: number, rows: number): void;
}

export type QuantSource = 'standalone' | 'build' | 'standalone-relaxed' | 'build-relaxed';

/** The asc flags of asconfig.json's release target, for compiling an entry file on its own. */
export const ASC_FLAGS = [
  '-O3', '--noAssert', '--runtime', 'stub', '--enable', 'simd,threads',
  '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
];

/** Compiles an AssemblyScript entry file with {@link ASC_FLAGS}; returns the wasm bytes. */
export function compileAssemblyScript(entry: string, extraFlags: string[] = []): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'fm-asc-'));
  const outFile = join(dir, 'out.wasm');
  const asc = join(REPO, 'node_modules', '.bin', 'asc');
  const r = spawnSync(asc, [entry, '-o', outFile, ...ASC_FLAGS, ...extraFlags], { encoding: 'utf8', cwd: REPO });
  if (r.status !== 0) throw new Error(`asc ${entry} failed:\n${r.stdout}\n${r.stderr}`);
  return readFileSync(outFile);
}

/** A kernels instance over its own memory, with a bump allocator. */
export class WasmHarness {
  private top: number;

  private constructor(
    readonly memory: WebAssembly.Memory,
    readonly exports: Record<string, any>,
    private readonly base: number,
  ) {
    this.top = base;
  }

  /** Instantiates `bytes` over a fresh shared memory of `bytes` size (fixed, so views never go stale). */
  static async create(wasm: Uint8Array, memoryBytes = 64 << 20): Promise<WasmHarness> {
    const pages = Math.ceil(memoryBytes / 65536);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const module = await WebAssembly.compile(wasm);
    const instance = await WebAssembly.instantiate(module, {
      env: {
        memory,
        abort: () => {
          throw new Error('wasm kernel abort');
        },
      },
    });
    const ex = instance.exports as Record<string, any>;
    const base = typeof ex.heapBase === 'function' ? Number(ex.heapBase()) : 1024;
    return new WasmHarness(memory, ex, Math.max(1024, Math.ceil(base / 64) * 64));
  }

  /** assembly/quant.ts compiled on its own, or build/kernels.wasm (`source = 'build'`). */
  static async quant(source: QuantSource = 'standalone', memoryBytes?: number): Promise<WasmHarness> {
    const relaxed = source.endsWith('-relaxed');
    if (relaxed) v8.setFlagsFromString('--experimental-wasm-relaxed-simd'); // Node 20; a no-op where it is on by default
    if (source.startsWith('build')) {
      const file = join(REPO, 'build', relaxed ? 'kernels-relaxed.wasm' : 'kernels.wasm');
      if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\``);
      return WasmHarness.create(readFileSync(file), memoryBytes);
    }
    const extra = relaxed ? ['--enable', 'relaxed-simd'] : [];
    return WasmHarness.create(compileAssemblyScript(join(REPO, 'assembly', 'quant.ts'), extra), memoryBytes);
  }

  /** The quantized kernels' exports. */
  get q(): QuantKernels {
    return this.exports as unknown as QuantKernels;
  }

  /** Reserves `bytes` (64-byte aligned, zero-filled) and returns its offset. */
  alloc(bytes: number): Ptr {
    const p = this.top;
    this.top += Math.ceil(Math.max(bytes, 1) / 64) * 64;
    if (this.top > this.memory.buffer.byteLength) throw new RangeError(`harness memory full (${this.top} bytes asked)`);
    new Uint8Array(this.memory.buffer, p, bytes).fill(0);
    return p;
  }

  /** Frees everything allocated. */
  reset(): void {
    this.top = this.base;
  }

  /** Copies a typed array into fresh memory; returns its offset. */
  put(a: ArrayBufferView): Ptr {
    const p = this.alloc(a.byteLength);
    new Uint8Array(this.memory.buffer, p, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return p;
  }

  /** A copy of `n` f32 at `p`. */
  f32(p: Ptr, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, p, n).slice();
  }

  /** A copy of `n` bytes at `p`. */
  u8(p: Ptr, n: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, p, n).slice();
  }

  /** A copy of `n` int8 at `p`. */
  i8(p: Ptr, n: number): Int8Array {
    return new Int8Array(this.memory.buffer, p, n).slice();
  }

  /** A copy of `n` int16 at `p`. */
  i16(p: Ptr, n: number): Int16Array {
    return new Int16Array(this.memory.buffer, p, n).slice();
  }
}
