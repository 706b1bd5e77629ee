/**
 * The memory-bandwidth ceiling of wasm SIMD reads on this machine, on 1 and on 2 threads: `streamRead` of
 * build/kernels.wasm (assembly/elementwise.ts: f32x4 loads into 4 accumulators) over a shared memory of
 * `--gib` GiB (default 1) filled with nonzero bytes, far larger than any cache.
 *
 * 1 thread: the best of `--passes` (default 5) reads of the whole region on this thread.
 * 2 threads: two workers (bench/ceiling-worker.mjs), each instantiating the same module over the same memory,
 * read one half each; both are released together through an Atomics barrier and a pass ends when both are done;
 * best of `--passes`.
 *
 * Prints one JSON line: `{ "bytes", "t1", "t2", "t1Passes", "t2Passes", "otherLoad" }` (GB/s, 1e9 bytes/s; otherLoad:
 * cores' worth of CPU other processes used meanwhile, from /proc/stat, null off Linux).
 * Run by bench/bench.ts in its own process; alone: `npx tsx bench/ceiling.ts [--gib 1] [--passes 5]`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { machineBusy, ownBusy } from './cpu.ts';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const PASSES = opt('passes', 5);
const PAGE = 65536;
const START = 16 * PAGE; // past the module's static data, which each instantiation rewrites
const BYTES = Math.floor((opt('gib', 1) * 2 ** 30) / (2 * 64)) * 2 * 64; // two halves, each a multiple of 64
const pages = (START + BYTES) / PAGE;

const module = await WebAssembly.compile(readFileSync(resolve(here, '../build/kernels.wasm')));
const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
const abort = () => {
  throw new Error('abort called by kernels.wasm');
};
const instance = await WebAssembly.instantiate(module, { env: { memory, abort } });
const streamRead = instance.exports.streamRead as (p: number, bytes: number) => number;
// 0x3f818181: every byte nonzero, and as an f32 a normal number (≈1.012), so the adds never meet denormals.
new Uint32Array(memory.buffer, START, BYTES / 4).fill(0x3f818181);

const busy0 = machineBusy(), own0 = ownBusy(), wall0 = performance.now();

let sink = 0;
const t1Passes: number[] = [];
for (let r = 0; r < PASSES; r++) {
  const t0 = performance.now();
  sink += streamRead(START, BYTES);
  t1Passes.push(BYTES / ((performance.now() - t0) / 1000) / 1e9);
}

// ctrl[0]: workers ready for the next pass; ctrl[1]: the pass number they may start; ctrl[2]: workers done.
const ctrl = new Int32Array(new SharedArrayBuffer(12));
const half = BYTES / 2;
const workers = [0, 1].map(
  (w) => new Worker(resolve(here, 'ceiling-worker.mjs'), { workerData: { module, memory, ctrl, p: START + w * half, bytes: half, passes: PASSES } }),
);
const failed = new Promise<never>((_, reject) => workers.forEach((w) => w.on('error', reject)));
const waitFor = (i: number, value: number) => {
  for (let v = Atomics.load(ctrl, i); v !== value; v = Atomics.load(ctrl, i)) Atomics.wait(ctrl, i, v, 1000);
};
const t2Passes: number[] = [];
for (let r = 1; r <= PASSES; r++) {
  waitFor(0, 2); // both workers are waiting on ctrl[1]
  Atomics.store(ctrl, 0, 0);
  Atomics.store(ctrl, 2, 0);
  const t0 = performance.now();
  Atomics.store(ctrl, 1, r);
  Atomics.notify(ctrl, 1);
  waitFor(2, 2);
  t2Passes.push(BYTES / ((performance.now() - t0) / 1000) / 1e9);
}
await Promise.race([Promise.all(workers.map((w) => new Promise((res) => w.on('exit', res)))), failed]);

const busy1 = machineBusy();
// Cores' worth of CPU that other processes used meanwhile (the workers' time is this process's own).
const otherLoad = busy0 === null || busy1 === null ? null : Math.max(0, (busy1 - busy0 - (ownBusy() - own0)) / ((performance.now() - wall0) / 1000));
const out = { bytes: BYTES, t1: Math.max(...t1Passes), t2: Math.max(...t2Passes), t1Passes, t2Passes, otherLoad, sink: Number.isFinite(sink) };
process.stdout.write(JSON.stringify(out) + '\n');
