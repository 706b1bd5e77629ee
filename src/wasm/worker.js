// A kernel worker of the wasm backend's thread pool (src/wasm/threads.ts). Plain JavaScript on purpose: a worker
// does not inherit the parent's TypeScript loader (tsx, vitest), and Deno runs it unchanged.
// It instantiates the same compiled kernels over each of the model's shared memories, then loops: block in
// Atomics.wait on the generation counter (after a short bounded spin), then claim chunks of the posted job one at a
// time and run them, counting each done and waking the main thread after the last. The job table and the control
// block's layout are src/wasm/jobs.js, which the pool reads too.
import { parentPort, workerData } from 'node:worker_threads';
import { ARGS_BYTE, BOUNDS, CONTROL_INTS, DONE, FN, GEN, jobKernels, MAX_ARGS, MEM, NCHUNK, NEXT, runRows } from './jobs.js';

const SPIN = 20000;

const { module, memories, control } = workerData;
// One kernel instance per memory (part) of the model, and its job table.
const tables = memories.map((memory) =>
  jobKernels(
    new WebAssembly.Instance(module, {
      env: {
        memory,
        abort: () => {
          throw new Error('wasm kernel abort');
        },
      },
    }).exports,
  ),
);
const ctl = new Int32Array(control, 0, CONTROL_INTS);
const args = new Float64Array(control, ARGS_BYTE, MAX_ARGS);
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
  const job = tables[ctl[MEM]][fn];
  const n = ctl[NCHUNK];
  // Claim chunks of this generation's job until none is left (or a newer job has replaced it).
  for (;;) {
    const cur = Atomics.load(ctl, NEXT);
    const i = cur & 255;
    if (cur >>> 8 !== g || i >= n) break;
    if (Atomics.compareExchange(ctl, NEXT, cur, cur + 1) !== cur) continue;
    const r0 = ctl[BOUNDS + i];
    const r1 = ctl[BOUNDS + i + 1];
    if (r1 > r0) runRows(job, args, r0, r1);
    if (Atomics.add(ctl, DONE, 1) + 1 === n) Atomics.notify(ctl, DONE);
  }
}
