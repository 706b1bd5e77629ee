/**
 * The one place where evaluation feeds tokens to a model: an unscored prefix through chunked `prefill`, then the
 * scored positions through `prefill` with `allLogits` in chunks of `rowChunk` positions, handing each position's
 * logits (V) to a callback that reduces and drops them. At most `rowChunk` × V floats of logits are alive at a
 * time, so memory is constant in the sequence length, and the scored positions run at prefill's speed (the
 * sequence path's batched matrix products) instead of one `step` per token.
 *
 * Row t of a chunk equals what `step(state, ids[t])` returns after the rows before it, within the backends' twin
 * rule (src/model.ts `PrefillOptions`; spec/eval/rows.spec.ts checks it, docs/eval.md states it).
 */
import { InputError } from '../errors.ts';
import { Pacer, type Model, type ModelState } from '../model.ts';

/** Options shared by every evaluation that feeds a model. */
export interface FeedOptions {
  /**
   * Aborts the evaluation: checked before every model call and passed to it (a call stops between its chunks);
   * an aborted run rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /** Tokens per `prefill` call for unscored prefixes (default 256). */
  prefillChunk?: number;
  /**
   * Scored positions per `prefill` call (default {@link DEFAULT_ROW_CHUNK}): the logits of at most this many
   * positions (rowChunk × V floats) are alive at a time.
   */
  rowChunk?: number;
}

/** Scored positions per model call when {@link FeedOptions.rowChunk} is not given (64 × 65 024 floats = 16.6 MB for the 7B). */
export const DEFAULT_ROW_CHUNK = 64;

function chunkOption(v: number | undefined, fallback: number, name: string): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new InputError(`${name} must be a positive integer, got ${v}`);
  return n;
}

/**
 * Feeds `ids` from `state` (advancing it) and calls `onRow(t, logits)` with the logits after ids[t] for every
 * t ≥ `scoreFrom`, in order. `ids[0 .. scoreFrom)` go through `prefill` in chunks of `prefillChunk`, the rest
 * through `prefill` with `allLogits` in chunks of `rowChunk`. The row is valid only during the call. Returns the
 * last row when `scoreFrom` = ids.length, for callers that score what follows.
 */
export async function feedRows(
  model: Model,
  state: ModelState,
  ids: ArrayLike<number>,
  scoreFrom: number,
  onRow: (t: number, logits: Float32Array) => void | Promise<void>,
  o: FeedOptions = {},
): Promise<Float32Array | undefined> {
  const prefix = chunkOption(o.prefillChunk, 256, 'prefillChunk');
  const rows = chunkOption(o.rowChunk, DEFAULT_ROW_CHUNK, 'rowChunk');
  const V = model.config.vocabSize;
  const signal = o.signal;
  // A model call that saw the abort rejects with an AbortError; the evaluation rejects with the signal's reason.
  const call = async (from: number, to: number, allLogits: boolean): Promise<Float32Array> => {
    signal?.throwIfAborted();
    try {
      return await model.prefill(state, sliceIds(ids, from, to), { allLogits, ...(signal ? { signal } : {}) });
    } catch (e) {
      signal?.throwIfAborted();
      throw e;
    }
  };
  // The model calls pace themselves (src/model.ts Pacer); the rows' reductions (one exp per logit: ~1 ms a row
  // of 65 024) are paced here, so a chunk of rows never holds the event loop for long either.
  const pacer = new Pacer();
  let last: Float32Array | undefined;
  for (let at = 0; at < scoreFrom; at += prefix) last = await call(at, Math.min(scoreFrom, at + prefix), false);
  for (let at = scoreFrom; at < ids.length; at += rows) {
    const to = Math.min(ids.length, at + rows);
    const logits = await call(at, to, true);
    if (logits.length !== (to - at) * V) throw new Error(`the model returned ${logits.length} logits for ${to - at} positions × ${V} (it ignored allLogits)`);
    for (let t = at; t < to; t++) {
      await onRow(t, logits.subarray((t - at) * V, (t - at + 1) * V));
      if (pacer.due()) await pacer.turn();
    }
  }
  return last;
}

function sliceIds(ids: ArrayLike<number>, from: number, to: number): number[] {
  const out = new Array<number>(to - from);
  for (let i = from; i < to; i++) out[i - from] = ids[i];
  return out;
}
