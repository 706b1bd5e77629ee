// A kernel worker of the wasm backend's thread pool (src/wasm/threads.ts). Plain JavaScript on purpose: a worker
// does not inherit the parent's TypeScript loader (tsx, vitest), and Deno runs it unchanged.
// It instantiates the same compiled kernels over each of the model's shared memories, then loops: block in
// Atomics.wait on the generation counter (after a short bounded spin), then claim chunks of the posted job one at a
// time and run them, counting each done and waking the main thread after the last. Control block: see threads.ts.
import { parentPort, workerData } from 'node:worker_threads';

const GEN = 0;
const DONE = 1;
const FN = 2;
const MEM = 3;
const NEXT = 4;
const NCHUNK = 5;
const BOUNDS = 16; // Int32 index of the chunk bounds
const SPIN = 20000;
const FNS = ['stop', 'linearF32Rows', 'linearBf16Rows', 'linearF16Rows', 'linearQ8Rows', 'linearQ4Rows', 'selectiveScanRows', 'causalConv1dRows', 'quantizeQ8Rows', 'quantizeQ4Rows'];
// Arguments of each job before its row bounds r0, r1 (linearBf16Rows has `ld`, the rows of its stored matrix).
const ARGC = [0, 7, 8, 7, 9, 9, 13, 8, 6, 6];

const { module, memories, control } = workerData;
// One kernel instance per memory (part) of the model.
const ks = memories.map(
  (memory) =>
    new WebAssembly.Instance(module, {
      env: {
        memory,
        abort: () => {
          throw new Error('wasm kernel abort');
        },
      },
    }).exports,
);
const ctl = new Int32Array(control, 0, 64);
const args = new Float64Array(control, 256, 16);
// Read the generation before saying ready: the first job may be posted the moment the pool hears from us.
let seen = Atomics.load(ctl, GEN);
parentPort.postMessage('ready');

for (;;) {
  let g = Atomics.load(ctl, GEN);
  for (let i = 0; g === seen && i < SPIN; i++) g = Atomics.load(ctl, GEN);
  if (g === seen) {
    Atomics.wait(ctl, GEN, seen);
    continue;
  }
  seen = g;
  const fn = ctl[FN];
  if (fn === 0) break;
  const f = ks[ctl[MEM]][FNS[fn]];
  const argc = ARGC[fn];
  const n = ctl[NCHUNK];
  // Claim chunks of this generation's job until none is left (or a newer job has replaced it).
  for (;;) {
    const cur = Atomics.load(ctl, NEXT);
    const i = cur & 255;
    if (cur >>> 8 !== g || i >= n) break;
    if (Atomics.compareExchange(ctl, NEXT, cur, cur + 1) !== cur) continue;
    const r0 = ctl[BOUNDS + i];
    const r1 = ctl[BOUNDS + i + 1];
    if (r1 > r0) {
      if (argc === 13) f(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], args[12], r0, r1);
      else if (argc === 9) f(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], r0, r1);
      else if (argc === 8) f(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], r0, r1);
      else if (argc === 7) f(args[0], args[1], args[2], args[3], args[4], args[5], args[6], r0, r1);
      else f(args[0], args[1], args[2], args[3], args[4], args[5], r0, r1);
    }
    if (Atomics.add(ctl, DONE, 1) + 1 === n) Atomics.notify(ctl, DONE);
  }
}
