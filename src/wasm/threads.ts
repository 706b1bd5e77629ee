/**
 * The wasm backend's thread pool (issue 6 §1): `threads − 1` workers (src/wasm/worker.js) instantiate the same
 * compiled kernels over each of the model's shared memories (one per part); the calling thread is thread 0. A matmul is split by output
 * rows (`linear…Rows`, boundaries rounded to even rows so q8/q4 row pairs and bf16 2-row tiles stay whole), the
 * scan and conv by channels. A job is cut into about 4 chunks per thread, and every thread (the caller too) claims
 * the next chunk with a compare-and-swap until none is left: when another process takes a core from one of the
 * threads, the others do its share instead of waiting for it (a fixed half each halved a 2-thread decode when a
 * neighbour took a third of a core). Each chunk is computed exactly as before, so the split changes no bits.
 *
 * Synchronization is a control block in its own SharedArrayBuffer: Int32 [0] generation (24 bits), [1] chunks
 * done, [2] job, [3] which memory (part) the job runs in, [4] next chunk (generation << 8 | index), [5] chunk
 * count, [16 .. 16+chunks] chunk bounds; Float64 at byte 256: the job's arguments. The caller writes a job, then
 * the next-chunk word, then the generation, and notifies; each worker spins briefly (bounded) then blocks in
 * `Atomics.wait`, so an idle pool burns no core. A worker claims a chunk only while the next-chunk word carries
 * the generation whose job it read, so a late worker can never run an old job's arguments. The caller claims
 * chunks too, then waits (bounded spin, then `Atomics.wait`) until every chunk is done.
 * Workers are `unref`'d, so a process whose model was never disposed still exits; `dispose` stops them.
 */
import { Worker } from 'node:worker_threads';

/** Row-sliced kernels a job can run (index = the job id in worker.js). */
export const JOB = { linearF32Rows: 1, linearBf16Rows: 2, linearF16Rows: 3, linearQ8Rows: 4, linearQ4Rows: 5, selectiveScanRows: 6, causalConv1dRows: 7, quantizeQ8Rows: 8, quantizeQ4Rows: 9 } as const;

/** A job id of {@link JOB}. */
export type JobId = (typeof JOB)[keyof typeof JOB];

const GEN = 0;
const DONE = 1;
const FN = 2;
const MEM = 3;
const NEXT = 4;
const NCHUNK = 5;
const BOUNDS = 16;
/** Chunks per thread, and at most (the bounds fill the control block's Int32 slots 16..63). */
const CHUNKS_PER_THREAD = 4;
const MAX_CHUNKS = 47;
const SPIN = 20000;

/** A pool of kernel workers over one shared memory. */
export class ThreadPool {
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private stopped = false;
  private gen = 0;

  private constructor(
    /** Threads in all, the caller included. */
    readonly threads: number,
    private readonly workers: Worker[],
    control: SharedArrayBuffer,
  ) {
    this.ctl = new Int32Array(control, 0, 64);
    this.args = new Float64Array(control, 256, 16);
  }

  /**
   * Starts `threads − 1` workers over `memories` (each worker instantiates the kernels over every one) and waits until each has instantiated the kernels. Rejects if a
   * worker cannot start (the caller then falls back to one thread).
   */
  static async start(module: WebAssembly.Module, memories: readonly WebAssembly.Memory[], threads: number): Promise<ThreadPool> {
    const control = new SharedArrayBuffer(512);
    const url = new URL('./worker.js', import.meta.url);
    const workers: Worker[] = [];
    try {
      for (let i = 1; i < threads; i++) {
        const w = new Worker(url, { workerData: { module, memories, control, index: i }, execArgv: [] });
        workers.push(w);
        await new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`kernel worker exited with code ${code} while starting`)));
        });
        w.removeAllListeners('exit');
        w.removeAllListeners('error');
        w.on('error', () => {}); // a worker error after start surfaces as a stuck job's timeout in the caller's spec
        w.unref();
      }
    } catch (e) {
      for (const w of workers) void w.terminate();
      throw e;
    }
    return new ThreadPool(threads, workers, control);
  }

  /**
   * Runs a `linear…Rows` kernel over output rows [0, outF) split across the threads; `run(r0, r1)` is the
   * caller's own slice (the same kernel in the caller's instance). `args` are the kernel's arguments before r0;
   * `memory` is the index of the memory (part) they point into; bounds are multiples of `align` (2: q8/q4 row
   * pairs and bf16 2-row tiles stay whole; 4 for the scan's 4-channel groups).
   */
  rows(job: JobId, args: number[], outF: number, run: (r0: number, r1: number) => void, memory = 0, align = 2): void {
    const ctl = this.ctl;
    const n = Math.max(1, Math.min(CHUNKS_PER_THREAD * this.threads, MAX_CHUNKS, Math.floor(outF / align)));
    for (let i = 0; i < args.length; i++) this.args[i] = args[i];
    for (let i = 0; i <= n; i++) ctl[BOUNDS + i] = i === n ? outF : Math.min(outF, Math.round((outF * i) / n / align) * align);
    ctl[FN] = job;
    ctl[MEM] = memory;
    ctl[NCHUNK] = n;
    const g = (this.gen = (this.gen + 1) & 0xffffff);
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, NEXT, g << 8);
    Atomics.store(ctl, GEN, g);
    Atomics.notify(ctl, GEN);
    for (;;) {
      const cur = Atomics.load(ctl, NEXT);
      const i = cur & 255;
      if (i >= n) break;
      if (Atomics.compareExchange(ctl, NEXT, cur, cur + 1) !== cur) continue;
      const r0 = ctl[BOUNDS + i], r1 = ctl[BOUNDS + i + 1];
      if (r1 > r0) run(r0, r1);
      Atomics.add(ctl, DONE, 1);
    }
    let d = Atomics.load(ctl, DONE);
    for (let i = 0; d < n && i < SPIN; i++) d = Atomics.load(ctl, DONE);
    while (d < n) {
      Atomics.wait(ctl, DONE, d);
      d = Atomics.load(ctl, DONE);
    }
  }

  /** Stops and terminates the workers. */
  dispose(): void {
    if (this.stopped) return;
    this.stopped = true;
    Atomics.store(this.ctl, FN, 0);
    Atomics.store(this.ctl, GEN, (this.gen = (this.gen + 1) & 0xffffff));
    Atomics.notify(this.ctl, GEN);
    for (const w of this.workers) void w.terminate();
  }
}
