/**
 * The wasm backend's thread pool: `threads − 1` workers (src/wasm/worker.js) instantiate the same compiled kernels
 * over each of the model's shared memories (one per part); the calling thread is thread 0. A matmul is split by
 * output rows (`linear…Rows`, boundaries rounded to even rows so q8/q4 row pairs and bf16 2-row tiles stay whole),
 * the scan and conv by channels. A job is cut into about 4 chunks per thread, and every thread (the caller too)
 * claims the next chunk with a compare-and-swap until none is left: when another process takes a core from one of
 * the threads, the others do its share instead of waiting for it (a fixed half each halved a 2-thread decode when
 * a neighbour took a third of a core). Each chunk is computed exactly as before, so the split changes no bits.
 *
 * The job table and the control block's layout are src/wasm/jobs.js, shared with the worker: a job names one of
 * its row-sliced kernels, and its argument list (written once, at the call site) goes to the workers through the
 * control block and to the caller's own chunks through the same `runRows`. The caller writes a job, then the
 * next-chunk word, then the generation, and notifies; each worker spins briefly (bounded) then blocks in
 * `Atomics.wait`, so an idle pool burns no core. A worker claims a chunk only while the next-chunk word carries
 * the generation whose job it read, so a late worker can never run an old job's arguments. The caller claims
 * chunks too, then waits (bounded spin, then `Atomics.wait`) until every chunk is done.
 * Workers are `unref`'d, so a process whose model was never disposed still exits; `dispose` stops them.
 */
import { Worker } from 'node:worker_threads';
import type { Kernels } from './kernels.ts';
import { ARGS_BYTE, BOUNDS, CONTROL_BYTES, CONTROL_INTS, DONE, FN, GEN, JOBS, MAX_ARGS, MAX_CHUNKS, MEM, NCHUNK, NEXT, runRows, type JobKernel } from './jobs.js';

/** A row-sliced kernel a job can run (one of src/wasm/jobs.js `JOBS`). */
export type JobName = keyof Kernels & `${string}Rows`;

/** Job id of each job name (index in JOBS + 1). */
const JOB_ID: ReadonlyMap<string, number> = new Map(JOBS.map((name, i) => [name, i + 1]));

/** The id of job `job` in the control block. @throws Error for a name that is not in the table */
export function jobId(job: JobName): number {
  const id = JOB_ID.get(job);
  if (id === undefined) throw new Error(`${job} is not a job of the thread pool (src/wasm/jobs.js)`);
  return id;
}

/** Chunks per thread. */
const CHUNKS_PER_THREAD = 4;
const SPIN = 20000;

/** A pool of kernel workers over a model's shared memories. */
export class ThreadPool {
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private stopped = false;
  private gen = 0;
  /**
   * Test only: when false the calling thread claims no chunk and only waits, so every chunk runs on a worker
   * (a spec then sees any job a worker runs wrongly, instead of the caller having done all of them first).
   */
  callerClaims = true;

  private constructor(
    /** Threads in all, the caller included. */
    readonly threads: number,
    private readonly workers: Worker[],
    control: SharedArrayBuffer,
    /** The caller's job table per memory (src/wasm/jobs.js `jobKernels` of its kernel instance over it). */
    private readonly tables: readonly (readonly (JobKernel | null)[])[],
  ) {
    this.ctl = new Int32Array(control, 0, CONTROL_INTS);
    this.args = new Float64Array(control, ARGS_BYTE, MAX_ARGS);
  }

  /**
   * Starts `threads − 1` workers over `memories` (each worker instantiates the kernels over every one) and waits
   * until each has instantiated the kernels. `tables` are the caller's job tables, one per memory. Rejects if a
   * worker cannot start (the caller then falls back to one thread).
   */
  static async start(module: WebAssembly.Module, memories: readonly WebAssembly.Memory[], tables: readonly (readonly (JobKernel | null)[])[], threads: number): Promise<ThreadPool> {
    const control = new SharedArrayBuffer(CONTROL_BYTES);
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
    return new ThreadPool(threads, workers, control, tables);
  }

  /**
   * Runs row-sliced kernel `job` over rows [0, outF) of its output, split across the threads. `args` are the
   * kernel's arguments before r0, r1 (exactly its arity − 2); `memory` is the index of the memory (part) they
   * point into; bounds are multiples of `align` (2: q8/q4 row pairs and bf16 2-row tiles stay whole; 4 for the
   * scan's and conv's 4-channel groups).
   */
  rows(job: JobName, args: readonly number[], outF: number, memory = 0, align = 2): void {
    const id = jobId(job);
    const kernel = this.tables[memory][id]!;
    if (args.length !== kernel.argc) throw new Error(`${job} takes ${kernel.argc} arguments before r0, r1; ${args.length} given`);
    const ctl = this.ctl;
    const n = Math.max(1, Math.min(CHUNKS_PER_THREAD * this.threads, MAX_CHUNKS, Math.floor(outF / align)));
    for (let i = 0; i < args.length; i++) this.args[i] = args[i];
    for (let i = 0; i <= n; i++) ctl[BOUNDS + i] = i === n ? outF : Math.min(outF, Math.round((outF * i) / n / align) * align);
    ctl[FN] = id;
    ctl[MEM] = memory;
    ctl[NCHUNK] = n;
    const g = (this.gen = (this.gen + 1) & 0xffffff);
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, NEXT, g << 8);
    Atomics.store(ctl, GEN, g);
    Atomics.notify(ctl, GEN);
    while (this.callerClaims) {
      const cur = Atomics.load(ctl, NEXT);
      const i = cur & 255;
      if (i >= n) break;
      if (Atomics.compareExchange(ctl, NEXT, cur, cur + 1) !== cur) continue;
      const r0 = ctl[BOUNDS + i], r1 = ctl[BOUNDS + i + 1];
      if (r1 > r0) runRows(kernel, args, r0, r1);
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
