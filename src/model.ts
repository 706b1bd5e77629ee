/**
 * The one `Model` interface that both backends implement and everything above them (generation, CLI,
 * oracle) depends on. A model is a value: two models can live side by side, and a sequence's whole memory
 * of the past is its {@link ModelState}, which the caller owns.
 */
import type { ModelConfig } from './config.ts';
import type { TraceHook } from './reference/model.ts';

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
  /** Worker threads for the wasm backend (default: number of cores). */
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
  /** Called as weight tensors are read, for progress bars. */
  onProgress?: (p: LoadProgress) => void;
  /** Called with a one-line notice when the load falls back from what was asked (e.g. worker threads could not start: 1 thread). */
  onNotice?: (message: string) => void;
}

/**
 * A loaded model, whichever backend runs it: a fresh-state `forward` for whole sequences, and explicit
 * {@link ModelState} for prefill + decode. Both backends give the same logits within the stated tolerances.
 */
export interface Model {
  /** The normalized config the model was built from. */
  readonly config: ModelConfig;
  /** Which implementation runs the forward pass. */
  readonly backend: Backend;
  /** Logits for every position of `ids` from a fresh state: (T, V) row-major. */
  forward(ids: ArrayLike<number>): Float32Array | Promise<Float32Array>;
  /** A zeroed state for a new sequence. */
  createState(): ModelState;
  /**
   * Feeds `ids` through the sequence path, advancing `state`; returns the last position's logits (V).
   * Can be called repeatedly (chunked prefill): the result equals one call with all the ids.
   */
  prefill(state: ModelState, ids: ArrayLike<number>): Float32Array | Promise<Float32Array>;
  /** Feeds one token; returns its logits (V) and advances `state`. */
  step(state: ModelState, id: number): Float32Array | Promise<Float32Array>;
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

/** Bytes of one sequence's state (f32 conv + ssm). */
export function stateFloats(c: ModelConfig): { conv: number; ssm: number } {
  return { conv: c.nLayer * c.dInner * (c.dConv - 1), ssm: c.nLayer * c.dInner * c.dState };
}

/** A zeroed state for a config (shared by every backend). */
export function zeroState(c: ModelConfig): ModelState {
  const n = stateFloats(c);
  return { conv: new Float32Array(n.conv), ssm: new Float32Array(n.ssm), position: 0 };
}
