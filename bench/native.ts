/**
 * The native read ceiling of the side-by-side bench: compiles bench/native-read.c with the machine's C compiler
 * (`$CC`, else `cc`) into build/ at bench time and runs it. Native, because llama.cpp's decode is native: its
 * ratio to this ceiling and ours are then comparable on any CPU.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** One measurement of the native read bandwidth, GB/s (1e9 bytes/s), best of the passes. */
export interface NativeCeiling {
  bytes: number;
  t1: number;
  t2: number;
  t1Passes: number[];
  t2Passes: number[];
}

/** Compiles bench/native-read.c; returns the binary's path, or throws with a one-line reason (no compiler, build error). */
export function buildNativeRead(): string {
  const cc = process.env.CC || 'cc';
  const out = resolve(here, '../build/native-read');
  mkdirSync(dirname(out), { recursive: true });
  const r = spawnSync(cc, ['-O3', '-march=native', '-pthread', join(here, 'native-read.c'), '-o', out], { encoding: 'utf8' });
  if (r.error) {
    throw new Error(`bench: --llama-cpp measures the native read bandwidth with a C program, and no C compiler ran ('${cc}': ${r.error.message}); install gcc or clang, or set CC`);
  }
  if (r.status !== 0) throw new Error(`bench: compiling bench/native-read.c with '${cc}' failed: ${(r.stderr || '').trim().split('\n')[0]}`);
  return out;
}

/** Runs the compiled reader over `mib` MiB, `passes` passes per thread count. */
export function measureNative(bin: string, mib = 1024, passes = 5): NativeCeiling {
  const r = spawnSync(bin, [String(mib), String(passes)], { encoding: 'utf8' });
  const line = (r.stdout || '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`bench: native-read failed: ${(r.stderr || '').trim() || `exit status ${r.status}`}`);
  return JSON.parse(line) as NativeCeiling;
}
