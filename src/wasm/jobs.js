// The thread pool's one job table and control-block layout, read by both sides: the pool on the calling thread
// (src/wasm/threads.ts) and every kernel worker (src/wasm/worker.js). Plain JavaScript so that the worker can
// import it unchanged (a worker does not inherit the parent's TypeScript loader, and Deno runs it as it is);
// its types are in jobs.d.ts.
//
// A job is one of the row-sliced kernels below, run over a range of rows (or channels) [r0, r1) of its output;
// its arguments are the kernel's own, before r0 and r1. How many there are is read from the kernel export itself
// (a wasm function's `length` is its parameter count), so the table holds names only and cannot drift from the
// kernels' signatures.

/** The row-sliced kernels a job can run. A job's id in the control block is its index + 1 (0 stops the workers). */
export const JOBS = Object.freeze([
  'linearF32Rows',
  'linearBf16Rows',
  'linearF16Rows',
  'linearQ8Rows',
  'linearQ4Rows',
  'selectiveScanRows',
  'causalConv1dSiluRows',
  'selectiveScanBatchRows',
  'causalConv1dSiluBatchRows',
  'quantizeQ8Rows',
  'quantizeQ4Rows',
  'linearQKRows',
  'rmsNormRows',
  'quantizeActivationQ8Rows',
  'linearBf16BatchRows',
  'linearQ8BatchRows',
  'linearQ4BatchRows',
]);

// Int32 slots of the control block (its own SharedArrayBuffer of CONTROL_BYTES).
/** Generation of the posted job (24 bits), bumped for each job. */
export const GEN = 0;
/** Chunks of the current job done. */
export const DONE = 1;
/** The job id (index in JOBS + 1; 0 = stop). */
export const FN = 2;
/** Which memory (part) the job's arguments point into. */
export const MEM = 3;
/** The next chunk to claim: generation << 8 | index. */
export const NEXT = 4;
/** Chunks of the current job. */
export const NCHUNK = 5;
/** First Int32 slot of the chunk bounds (NCHUNK + 1 of them). */
export const BOUNDS = 16;
/** Int32 slots of the control block's head (the bounds end before the arguments). */
export const CONTROL_INTS = 64;
/** At most this many chunks (their bounds fill slots BOUNDS .. CONTROL_INTS − 1). */
export const MAX_CHUNKS = CONTROL_INTS - BOUNDS - 1;
/** Byte offset of the job's arguments (Float64). */
export const ARGS_BYTE = 256;
/** At most this many arguments before r0, r1. */
export const MAX_ARGS = 16;
/** Bytes of the control block. */
export const CONTROL_BYTES = ARGS_BYTE + 8 * MAX_ARGS;

/**
 * Each job's kernel in one kernel instance (`exports`), indexed by job id, with its argument count before r0, r1
 * and a reusable argument list (an instance is used by one thread only).
 */
export function jobKernels(exports) {
  const table = [null];
  for (const name of JOBS) {
    const f = exports[name];
    if (typeof f !== 'function' || f.length < 3) throw new Error(`the kernels have no row-sliced export ${name}: run \`npm run build\``);
    if (f.length - 2 > MAX_ARGS) throw new Error(`${name} takes ${f.length - 2} arguments before r0, r1; the control block holds ${MAX_ARGS}`);
    table.push({ name, f, argc: f.length - 2, call: new Array(f.length) });
  }
  return table;
}

/** Runs rows [r0, r1) of a job (an entry of {@link jobKernels}) with `args` (at least its `argc` values). */
export function runRows(job, args, r0, r1) {
  const call = job.call;
  for (let i = 0; i < job.argc; i++) call[i] = args[i];
  call[job.argc] = r0;
  call[job.argc + 1] = r1;
  Reflect.apply(job.f, undefined, call);
}
