/**
 * The one place where evaluation feeds tokens to a model: an unscored prefix through chunked `prefill`, then one
 * `step` per scored position, handing each position's logits (V) to a callback that reduces and drops them. Only
 * one row of logits is alive at a time, so memory is constant in the sequence length.
 *
 * The scored part runs through `step` because the `Model` interface returns per-position logits only from a fresh
 * state (`forward`); a carried state's chunk gives its last row (`prefill`). `step` gives the same logits as the
 * sequence path within the backends' stated tolerances (spec/eval checks the scores against transformers).
 */
import type { Model, ModelState } from '../model.ts';

/** Options shared by every evaluation that feeds a model. */
export interface FeedOptions {
  /** Aborts the evaluation: checked before every model call; an aborted run rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Tokens per `prefill` call for unscored prefixes (default 256). */
  prefillChunk?: number;
}

/** Scored tokens between yields to the event loop, so a long evaluation never holds it for long. */
const YIELD_EVERY = 32;

/** Lets timers and I/O run (the reference backend's calls are synchronous). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Feeds `ids` from `state` (advancing it) and calls `onRow(t, logits)` with the logits after ids[t] for every
 * t ≥ `scoreFrom`, in order. `ids[0 .. scoreFrom)` go through `prefill` in chunks. The row is valid only
 * during the call. Returns the last row when `scoreFrom` = ids.length, for callers that score what follows.
 */
export async function feedRows(
  model: Model,
  state: ModelState,
  ids: ArrayLike<number>,
  scoreFrom: number,
  onRow: (t: number, logits: Float32Array) => void | Promise<void>,
  o: FeedOptions = {},
): Promise<Float32Array | undefined> {
  const chunk = o.prefillChunk ?? 256;
  let last: Float32Array | undefined;
  for (let at = 0; at < scoreFrom; at += chunk) {
    o.signal?.throwIfAborted();
    last = await model.prefill(state, sliceIds(ids, at, Math.min(scoreFrom, at + chunk)));
    await yieldToEventLoop();
  }
  for (let t = scoreFrom; t < ids.length; t++) {
    o.signal?.throwIfAborted();
    const row = await model.step(state, ids[t]);
    await onRow(t, row);
    if ((t - scoreFrom) % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
  }
  return last;
}

function sliceIds(ids: ArrayLike<number>, from: number, to: number): number[] {
  const out = new Array<number>(to - from);
  for (let i = from; i < to; i++) out[i - from] = ids[i];
  return out;
}
