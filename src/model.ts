/**
 * The backend-neutral contracts: the one `Model` interface that both backends implement and everything above
 * them (generation, CLI, oracle) depends on, and what both backends check the same way (state sizes, token ids,
 * load options, the default chunk size, the trace hook). A model is a value: two models can live side by side,
 * and a sequence's whole memory of the past is its {@link ModelState}, which the caller owns.
 * This module imports no backend; each backend imports it (no backend imports the other).
 */
import { setImmediate } from 'node:timers';
import type { ModelConfig } from './config.ts';
import { InputError } from './errors.ts';

/**
 * A hook called with each named intermediate of a forward pass (the oracle's trace, docs/oracle.md).
 * Names follow HF module names (`layers.3.mixer.conv1d.out`); the list, in the order they are emitted, is
 * `TRACE_LAYER_STAGES` in src/oracle/names.ts. Values are views: copy them to keep them.
 */
export type TraceHook = (name: string, value: Float32Array, shape: number[]) => void;

/**
 * The recurrent state of one sequence: per layer the last K−1 conv inputs and the SSM state.
 * Its size is constant, whatever the sequence length.
 */
export interface ModelState {
  /** (nLayer, dInner, dConv−1): last K−1 inputs of the causal conv, oldest first. */
  conv: Float32Array;
  /** (nLayer, dInner, dState): the SSM hidden state h. */
  ssm: Float32Array;
  /** Tokens fed so far. */
  position: number;
}

/** Which implementation runs the forward pass. */
export type Backend = 'reference' | 'wasm';

/** Weight precision inside the engine: as stored (`auto`), widened (`f32`), or block-quantized at load time. */
export type WeightDType = 'auto' | 'f32' | 'bf16' | 'q8' | 'q4';

/** Progress of a load, for progress bars. */
export interface LoadProgress {
  /** Weight bytes read so far and in all. */
  loadedBytes: number;
  /** Weight bytes to read in all. */
  totalBytes: number;
  /** The tensor being read. */
  tensor: string;
}

/** Options of {@link loadModel}. */
export interface LoadOptions {
  /** Which implementation runs the model (default {@link DEFAULT_BACKEND}). */
  backend?: Backend;
  /** Weight precision inside the engine (default `auto`: as stored). */
  dtype?: WeightDType;
  /** Worker threads for the wasm backend, 1 to {@link MAX_THREADS} (default: number of cores, at most {@link MAX_THREADS}). */
  threads?: number;
  /**
   * Which build of the wasm kernels runs (default `auto`: `relaxed`, with fused multiply-adds, where the runtime
   * supports relaxed SIMD, else `plain`); see src/wasm/kernels.ts.
   */
  simd?: 'auto' | 'plain' | 'relaxed';
  /** Tokens per chunk of `prefill` in the wasm backend. */
  chunkSize?: number;
  /**
   * Largest wasm memory of one part, in bytes (wasm backend; default and maximum 4 GiB, what one wasm32 memory
   * holds). A model larger than this is split by layers over several memories. Lower it only to exercise the
   * split on a small model (the specs do).
   */
  maxPartBytes?: number;
  /**
   * A GGUF file only: eps of FalconMamba's dt/B/C RMS norm, which GGUF does not store. Default `'transformers'`
   * (1e-6, transformers' `mixer_rms_eps`, what FalconMamba-7B uses); `'llama.cpp'` takes the layer-norm eps as
   * llama.cpp does (1e-5 for the 7B); or a number. See src/io/gguf-checkpoint.ts.
   */
  mixerRmsEps?: number | 'transformers' | 'llama.cpp';
  /** Called as weight tensors are read, for progress bars. */
  onProgress?: (p: LoadProgress) => void;
  /** Called with a one-line notice when the load falls back from what was asked (e.g. worker threads could not start: 1 thread). */
  onNotice?: (message: string) => void;
}

/**
 * Options of one model call (`forward`, `prefill`, `step`).
 *
 * **Abort.** Once `signal` has fired, the call rejects with an `Error` whose `name` is `'AbortError'` (the
 * signal's reason as its `cause`). The engine looks at the signal before each chunk of tokens (wasm: `chunkSize`
 * tokens, default 64; reference: {@link REFERENCE_CHUNK} tokens) and finishes a chunk it has begun (a call whose
 * last chunk has begun completes normally), so after an aborted `prefill` the state holds exactly the tokens of
 * the chunks completed, `position` counts them, and the state is the one a `prefill` of those tokens alone
 * leaves: prefilling the rest continues exactly. An aborted `step` (one chunk) leaves the state untouched.
 */
export interface CallOptions {
  /** Aborts the call (see above). */
  signal?: AbortSignal;
}

/**
 * Options of {@link Model.prefill}.
 *
 * **Per-position logits from a carried state.** With `allLogits`, `prefill` returns the logits of every position
 * of `ids`, (L, V) row-major, row t after ids[t], computed through the same chunked sequence path as a plain
 * prefill (the lm_head runs over every row of each chunk instead of the last). This is what evaluation scores
 * through (src/eval/feed.ts): row t equals what `step(state, ids[t])` would return after the rows before it, within
 * each backend's twin rule (bit for bit on the reference; see docs/eval.md for the wasm rule), at prefill's speed.
 * The caller bounds the memory by the length of `ids` it passes: L × V floats come back, and a call asking for
 * more than {@link MAX_ALL_LOGITS_FLOATS} is refused (an InputError) before anything runs. An aborted
 * call leaves the state as {@link CallOptions} says and returns no rows.
 */
export interface PrefillOptions extends CallOptions {
  /** Return every position's logits, (L, V) row-major, instead of the last position's (V). Default false. */
  allLogits?: boolean;
}

/** The most floats one `prefill` with `allLogits` may return (2^28 floats: 1 GiB); ask in chunks of rows. */
export const MAX_ALL_LOGITS_FLOATS = 1 << 28;

/**
 * Checks the `allLogits` option of {@link PrefillOptions} for `n` ids and a vocabulary of `V`; returns it.
 * @throws InputError when it is not a boolean, or the logits asked for exceed {@link MAX_ALL_LOGITS_FLOATS}
 */
export function checkAllLogits(options: PrefillOptions, n: number, V: number): boolean {
  const all = options.allLogits ?? false;
  if (typeof all !== 'boolean') throw new InputError(`prefill option allLogits must be a boolean, got ${JSON.stringify(all)}`);
  if (all && n * V > MAX_ALL_LOGITS_FLOATS) {
    throw new InputError(
      `prefill with allLogits over ${n} ids would return ${n} × ${V} logits (more than ${MAX_ALL_LOGITS_FLOATS} floats); pass at most ${Math.floor(MAX_ALL_LOGITS_FLOATS / V)} ids a call`,
    );
  }
  return all;
}

/**
 * A loaded model, whichever backend runs it: a fresh-state `forward` for whole sequences, and explicit
 * {@link ModelState} for prefill + decode. Both backends give the same logits within the stated tolerances.
 * Calls are asynchronous and never block the event loop for long (it gets a turn at least every
 * {@link YIELD_MS} ms of compute); calls on one model overlapping in time run one after the other, in order.
 */
export interface Model {
  /** The normalized config the model was built from. */
  readonly config: ModelConfig;
  /** Which implementation runs the forward pass. */
  readonly backend: Backend;
  /** Logits for every position of `ids` from a fresh state: (T, V) row-major. */
  forward(ids: ArrayLike<number>, options?: CallOptions): Promise<Float32Array>;
  /** A zeroed state for a new sequence. */
  createState(): ModelState;
  /**
   * Feeds `ids` through the sequence path, advancing `state`; returns the last position's logits (V), or with
   * `allLogits` every position's, (L, V) row-major ({@link PrefillOptions}).
   * Can be called repeatedly (chunked prefill): the result equals one call with all the ids.
   */
  prefill(state: ModelState, ids: ArrayLike<number>, options?: PrefillOptions): Promise<Float32Array>;
  /** Feeds one token; returns its logits (V) and advances `state`. */
  step(state: ModelState, id: number, options?: CallOptions): Promise<Float32Array>;
  /**
   * Batched decode: feeds `ids[b]` to `states[b]` for each of B independent sequences and returns their logits,
   * (B, V) row-major; each state advances by one token. The sequences' states may come from `createState`,
   * `loadState` or copies, in any mix of positions; a state may not appear twice in one call. Each sequence's
   * logits equal its own `step` within the backends' twin rule (docs/generation.md): the reference backend runs
   * B steps (the oracle), the wasm engine one pass over the weights whose matrix products take the B tokens
   * together, with the conv and the scan run per sequence on its own state. An abort is seen before the pass
   * begins (then no state is touched).
   */
  stepBatch(states: readonly ModelState[], ids: ArrayLike<number>, options?: CallOptions): Promise<Float32Array>;
  /**
   * The state as versioned bytes (src/state.ts: magic, format version, the model's shape and fingerprint,
   * position, f32 data). Restoring them and continuing gives exactly the tokens of continuing without the save.
   */
  saveState(state: ModelState): Uint8Array;
  /**
   * A state from bytes written by {@link Model.saveState}.
   * @throws InputError for truncated bytes, another format version, or a state from a model of another shape
   */
  loadState(bytes: Uint8Array): ModelState;
  /** Releases workers and memory. The model cannot be used afterwards. */
  dispose(): void | Promise<void>;
  /**
   * Optional (the oracle, docs/oracle.md): a forward pass of `ids` from a fresh state that calls `hook` with
   * each named intermediate it computes, in forward order, names and shapes as listed in src/oracle/names.ts
   * (a backend may emit a subset). Values may be views; the hook copies what it keeps.
   */
  trace?(ids: ArrayLike<number>, hook: TraceHook): void | Promise<void>;
}

/** Floats of one sequence's state (f32 conv + ssm). */
export function stateFloats(c: ModelConfig): { conv: number; ssm: number } {
  return { conv: c.nLayer * c.dInner * (c.dConv - 1), ssm: c.nLayer * c.dInner * c.dState };
}

/** A zeroed state for a config (shared by every backend). */
export function zeroState(c: ModelConfig): ModelState {
  const n = stateFloats(c);
  return { conv: new Float32Array(n.conv), ssm: new Float32Array(n.ssm), position: 0 };
}

/** How a value looks in an error message: its type, or its constructor for objects. */
function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an Array';
  if (typeof x === 'object') return `a ${(x as object).constructor?.name ?? 'object'}`;
  return typeof x === 'string' ? `the string ${JSON.stringify(x.length > 20 ? x.slice(0, 20) + '…' : x)}` : `${typeof x} ${String(x)}`;
}

/**
 * Checks a state argument before any backend touches it: an object of two Float32Arrays of this model's sizes
 * (made by `createState`/`loadState` of a model of this shape) and a position that is a safe integer ≥ 0.
 * A plain Array or another typed array would be read by views and kernels that expect f32 memory.
 * @param name the parameter, in messages (`state`, `states[3]`)
 * @throws InputError naming the parameter and the field at fault
 */
export function checkState(state: ModelState, c: ModelConfig, name = 'state'): void {
  if (state === null || typeof state !== 'object') throw new InputError(`${name} must be a model state (from createState or loadState), got ${describe(state)}`);
  for (const field of ['conv', 'ssm'] as const) {
    if (!(state[field] instanceof Float32Array)) {
      throw new InputError(`${name}.${field} must be a Float32Array (a state from createState or loadState), got ${describe(state[field])}`);
    }
  }
  const n = stateFloats(c);
  if (state.conv.length !== n.conv || state.ssm.length !== n.ssm) {
    throw new InputError(
      `${name} does not fit this model (conv ${state.conv.length} / ssm ${state.ssm.length} floats, expected ${n.conv} / ${n.ssm}): a state of a model of another shape`,
    );
  }
  if (!Number.isSafeInteger(state.position) || state.position < 0) throw new InputError(`${name}.position must be an integer ≥ 0, got ${describe(state.position)}`);
}

/**
 * Checks one batched decode call ({@link Model.stepBatch}): as many ids as states (at least one), every state fits
 * the model, and no state appears twice (the same object, or two objects over the same memory: a state fed
 * twice in one pass would see only one of its tokens).
 */
export function checkBatch(states: readonly ModelState[], ids: ArrayLike<number>, c: ModelConfig): void {
  if (!Array.isArray(states) || states.length === 0) throw new InputError('stepBatch needs a non-empty array of states');
  if (ids?.length !== states.length) throw new InputError(`stepBatch got ${states.length} states but ${ids?.length} token ids`);
  const seen = new Map<ArrayBufferLike, number[]>();
  states.forEach((st, b) => {
    checkState(st, c, `states[${b}]`);
    const at = seen.get(st.conv.buffer) ?? [];
    if (at.includes(st.conv.byteOffset)) throw new InputError(`state ${b} of the batch appears twice (the same state, or a view of the same memory)`);
    at.push(st.conv.byteOffset);
    seen.set(st.conv.buffer, at);
  });
  checkIds(ids, c.vocabSize);
}

/**
 * Checks token ids before they index the embedding table: a non-empty array-like object (an Array, a typed
 * array) of integers inside the vocabulary.
 * @param name the parameter, in messages (`ids`, `id`)
 * @throws InputError naming the parameter and the first bad id with its position
 */
export function checkIds(ids: ArrayLike<number>, vocabSize: number, name = 'ids'): void {
  if (ids === null || typeof ids !== 'object' || !Number.isSafeInteger(ids.length) || ids.length < 0) {
    throw new InputError(`${name} must be an array of token ids, got ${describe(ids)}`);
  }
  if (ids.length === 0) throw new InputError(`no token ids given (${name} is empty)`);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new InputError(`${name}: token id ${typeof id === 'number' ? id : describe(id)} at position ${t} is outside the vocabulary [0, ${vocabSize})`);
    }
  }
}

/**
 * Checks one token id of `step` (a number, not an array of one).
 * @throws InputError naming `id`
 */
export function checkId(id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new InputError(`id must be a token id, an integer in [0, ${vocabSize}), got ${typeof id === 'number' ? id : describe(id)}`);
  }
}

/** The backend used when `options.backend` is not given. */
export const DEFAULT_BACKEND = 'wasm';

/** Tokens per chunk of `prefill` in the wasm backend when `options.chunkSize` is not given. */
export const DEFAULT_CHUNK_SIZE = 64;

/** The largest memory one wasm part may have: a wasm32 memory's 4 GiB (the default and maximum `maxPartBytes`). */
export const MAX_PART_BYTES = 65536 * 65536;

/**
 * The most worker threads a model may ask for. Each thread is a worker with its own V8 heap (~10 MB) and the
 * matmuls gain nothing past the cores (docs/performance.md), so a larger `threads` is a mistake, and an
 * unbounded one (100,000) starts workers until memory runs out.
 */
export const MAX_THREADS = 64;

/** {@link LoadOptions} checked, with every default filled in (what a backend reads). */
export interface ResolvedLoadOptions {
  backend: Backend;
  dtype: WeightDType;
  /** Asked threads (the wasm backend may run fewer if workers cannot start). */
  threads: number;
  simd: 'auto' | 'plain' | 'relaxed';
  chunkSize: number;
  maxPartBytes: number;
}

/**
 * Checks every option of {@link LoadOptions} for both backends in one place and fills in the defaults
 * (`threads` defaults to `cores`).
 * @throws InputError naming the option and the value at fault
 */
export function resolveLoadOptions(options: LoadOptions, cores: number): ResolvedLoadOptions {
  const backend = options.backend ?? DEFAULT_BACKEND;
  if (backend !== 'reference' && backend !== 'wasm') {
    throw new InputError(`unknown backend ${JSON.stringify(backend)} (expected "reference" or "wasm")`);
  }
  const dtype = options.dtype ?? 'auto';
  if (!['auto', 'f32', 'bf16', 'q8', 'q4'].includes(dtype)) {
    throw new InputError(`dtype "${dtype}" is not supported (use "auto", "f32", "bf16", "q8" or "q4")`);
  }
  if (backend === 'reference' && dtype !== 'auto' && dtype !== 'f32') {
    throw new InputError(`the reference backend computes in f32; dtype "${dtype}" needs backend "wasm"`);
  }
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new InputError(`chunkSize must be a positive integer, got ${chunkSize}`);
  const maxPartBytes = options.maxPartBytes ?? MAX_PART_BYTES;
  if (!Number.isInteger(maxPartBytes) || maxPartBytes < 65536 || maxPartBytes > MAX_PART_BYTES) {
    throw new InputError(`maxPartBytes must be an integer from 65536 to ${MAX_PART_BYTES} (4 GiB), got ${maxPartBytes}`);
  }
  const threads = options.threads ?? Math.min(cores, MAX_THREADS);
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new InputError(`threads must be an integer from 1 to ${MAX_THREADS} (MAX_THREADS), got ${threads}`);
  }
  const simd = options.simd ?? 'auto';
  if (!['auto', 'plain', 'relaxed'].includes(simd)) throw new InputError(`simd "${simd}" is not supported (use "auto", "plain" or "relaxed")`);
  return { backend, dtype, threads, simd, chunkSize, maxPartBytes };
}

/** Tokens per chunk of the reference backend's `prefill`/`forward` (it sees an abort between chunks). */
export const REFERENCE_CHUNK = 8;

/** The event loop gets a macrotask turn at least this often (ms) while a model computes. */
export const YIELD_MS = 4;

/** Rejects the call if `signal` has fired (see {@link CallOptions}). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const e = new Error('the model call was aborted', { cause: signal.reason });
    e.name = 'AbortError';
    throw e;
  }
}

/**
 * Paces a long computation: `due()` (one clock read) says when the event loop is owed a turn, `turn()` gives it
 * one (a macrotask: timers, I/O and other requests run) and restarts the clock.
 */
export class Pacer {
  private next = performance.now() + YIELD_MS;

  due(): boolean {
    return performance.now() >= this.next;
  }

  async turn(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.next = performance.now() + YIELD_MS;
  }
}

/** Runs calls one after the other (a model's calls share its scratch memory), in the order they were made. */
export class CallQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  /**
   * Runs `call` after every call made before it; rejects with an InputError once {@link close} was called
   * (a call queued before `close` but not yet started rejects too).
   */
  run<T>(call: () => Promise<T>): Promise<T> {
    const p = this.tail.then(() => {
      if (this.closed) throw new InputError('this model has been disposed');
      return call();
    });
    this.tail = p.catch(() => {});
    return p;
  }

  /** No call starts after this (the model's `dispose`). */
  close(): void {
    this.closed = true;
  }
}
