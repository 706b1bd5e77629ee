/**
 * The wasm backend's thread pool: `threads − 1` workers (src/wasm/worker.js) instantiate the same compiled kernels
 * over each of the model's shared memories (one per part); the calling thread is thread 0. A matmul is split by
 * output rows (`linear…Rows`, boundaries rounded to even rows so q8/q4 row pairs and bf16 2-row tiles stay whole),
 * the scan and conv by channels, a prefill's norm and activation quantizer by tokens. A job is cut into about 8
 * chunks per thread (4 left the caller waiting ~half a chunk at each job's end: 6% of a 2-thread prefill), and every thread (the caller too)
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
 * chunks too, then waits until every chunk is done: a bounded spin (most jobs end within it), then
 * `Atomics.waitAsync`, so the calling thread (the main thread of a server or a UI) never blocks: `rows` returns
 * a promise only when the spin ran out, and the hot path pays nothing for it.
 * A worker that dies or throws (a wasm trap, `terminate`) makes the pool faulted: the waiting call and every later
 * one reject with {@link ThreadPool.fault}, instead of waiting forever for a chunk that will never be done.
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

/** `Atomics.waitAsync` (ES2024, which the project's lib predates; Node ≥ 16 and Deno have it). */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
}).waitAsync;

/**
 * Chunks per thread. Small shape prefill(256), 2 threads (bench/step-profile.ts --prefill 256): 4 → 8 cut the
 * pooled jobs' fork/wait from ~130 to ~80 ms of ~1.7 s.
 */
const CHUNKS_PER_THREAD = 8;
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
  /** Set when a worker died or threw after starting (or the pool was disposed): the pool cannot run jobs any more. */
  fault: Error | null = null;

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
    let pool: ThreadPool | null = null;
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
        w.on('error', (e) => pool?.fail(`kernel worker ${i} threw (${e instanceof Error ? e.message : String(e)})`));
        w.on('exit', (code) => pool?.fail(`kernel worker ${i} exited (code ${code})`));
        w.unref();
      }
    } catch (e) {
      for (const w of workers) void w.terminate();
      throw e;
    }
    pool = new ThreadPool(threads, workers, control, tables);
    return pool;
  }

  /**
   * Runs row-sliced kernel `job` over rows [0, outF) of its output, split across the threads. `args` are the
   * kernel's arguments before r0, r1 (exactly its arity − 2); `memory` is the index of the memory (part) they
   * point into; bounds are multiples of `align` (2: q8/q4 row pairs and bf16 2-row tiles stay whole; 4 for the
   * scan's and conv's 4-channel groups).
   */
  rows(job: JobName, args: readonly number[], outF: number, memory = 0, align = 2): Promise<void> | undefined {
    if (this.fault) throw this.fault;
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
    return d < n ? this.waitDone(n) : undefined;
  }

  /** Waits without blocking until `n` chunks are done, or rejects once the pool is faulted. */
  private async waitDone(n: number): Promise<void> {
    // A pending waitAsync does not keep the event loop alive, and the workers are unref'd: ref them while
    // waiting, or a process with nothing else to do would exit in the middle of the call.
    for (const w of this.workers) w.ref();
    try {
      for (;;) {
        if (this.fault) throw this.fault;
        const d = Atomics.load(this.ctl, DONE);
        if (d >= n) return;
        const w = waitAsync(this.ctl, DONE, d);
        if (w.async) await w.value;
      }
    } finally {
      for (const w of this.workers) w.unref();
    }
  }

  /** Marks the pool faulted (first cause wins) and wakes a call waiting for its chunks. */
  private fail(why: string): void {
    if (this.fault) return;
    this.fault = new Error(`${why}; this model cannot run any more: dispose it and load it again`);
    Atomics.notify(this.ctl, DONE);
  }

  /** Stops and terminates the workers. */
  dispose(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.fail('the model has been disposed');
    Atomics.store(this.ctl, FN, 0);
    Atomics.store(this.ctl, GEN, (this.gen = (this.gen + 1) & 0xffffff));
    Atomics.notify(this.ctl, GEN);
    for (const w of this.workers) void w.terminate();
  }
}
