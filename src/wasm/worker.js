// A kernel worker of the wasm backend's thread pool (src/wasm/threads.ts). Plain JavaScript on purpose: a worker
// does not inherit the parent's TypeScript loader (tsx, vitest), and Deno runs it unchanged.
// It instantiates the same compiled kernels over the same shared memory, then loops: block in Atomics.wait on
// the generation counter (after a short bounded spin), run its row slice of the posted job, count down `pending`
// and wake the main thread when it is the last. Layout of the control block: see threads.ts.
import { parentPort, workerData } from 'node:worker_threads';

const GEN = 0;
const PENDING = 1;
const FN = 2;
const MEM = 3;
const BOUNDS = 16; // Int32 index of bounds[0..threads]
const SPIN = 20000;
const FNS = ['stop', 'linearF32Rows', 'linearBf16Rows', 'linearF16Rows', 'linearQ8Rows', 'linearQ4Rows', 'selectiveScanRows', 'causalConv1dRows'];
// Arguments of each job before its row bounds r0, r1 (linearBf16Rows has `ld`, the rows of its stored matrix).
const ARGC = [0, 7, 8, 7, 9, 9, 13, 8];

const { module, memories, control, index } = workerData;
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
  const fn = Atomics.load(ctl, FN);
  if (fn === 0) break;
  const r0 = ctl[BOUNDS + index];
  const r1 = ctl[BOUNDS + index + 1];
  if (r1 > r0) {
    const f = ks[ctl[MEM]][FNS[fn]];
    if (ARGC[fn] === 13) f(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], args[12], r0, r1);
    else if (ARGC[fn] === 9) f(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], r0, r1);
    else if (ARGC[fn] === 8) f(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], r0, r1);
    else f(args[0], args[1], args[2], args[3], args[4], args[5], args[6], r0, r1);
  }
  if (Atomics.sub(ctl, PENDING, 1) === 1) Atomics.notify(ctl, PENDING);
}
