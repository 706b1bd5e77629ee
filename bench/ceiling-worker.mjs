// One reader of bench/ceiling.ts's 2-thread ceiling: instantiates kernels.wasm over the shared memory, then for
// each pass announces itself ready (ctrl[0]), waits for the pass number (ctrl[1]), streams its half of the
// region, and counts itself done (ctrl[2]).
import { workerData } from 'node:worker_threads';

const { module, memory, ctrl, p, bytes, passes } = workerData;
const abort = () => {
  throw new Error('abort called by kernels.wasm');
};
const { streamRead } = new WebAssembly.Instance(module, { env: { memory, abort } }).exports;
let sink = 0;
for (let r = 1; r <= passes; r++) {
  Atomics.add(ctrl, 0, 1);
  Atomics.notify(ctrl, 0);
  while (Atomics.load(ctrl, 1) < r) Atomics.wait(ctrl, 1, r - 1, 1000);
  sink += streamRead(p, bytes);
  Atomics.add(ctrl, 2, 1);
  Atomics.notify(ctrl, 2);
}
if (!Number.isFinite(sink)) throw new Error('non-finite sum');
