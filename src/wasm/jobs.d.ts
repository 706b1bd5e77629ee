// Types of src/wasm/jobs.js (plain JavaScript, shared with the worker); the values and their meaning are there.
export declare const JOBS: readonly string[];
export declare const GEN: number;
export declare const DONE: number;
export declare const FN: number;
export declare const MEM: number;
export declare const NEXT: number;
export declare const NCHUNK: number;
export declare const BOUNDS: number;
export declare const CONTROL_INTS: number;
export declare const MAX_CHUNKS: number;
export declare const ARGS_BYTE: number;
export declare const MAX_ARGS: number;
export declare const CONTROL_BYTES: number;
/** One job's kernel in one instance. */
export interface JobKernel {
  readonly name: string;
  readonly f: (...args: number[]) => void;
  /** Arguments before r0, r1 (the export's arity − 2). */
  readonly argc: number;
  readonly call: number[];
}
/** Index = job id; entry 0 (stop) is null. */
export declare function jobKernels(exports: object): (JobKernel | null)[];
export declare function runRows(job: JobKernel, args: ArrayLike<number>, r0: number, r1: number): void;
