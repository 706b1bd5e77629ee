/**
 * Perplexity of a token sequence, in constant memory: one streaming pass over the whole sequence (a recurrent
 * model has no context window), or llama-perplexity's windowed rule so figures compare with llama.cpp's.
 * Either pass can save each scored position's top-k log-probabilities or compare against saved ones (KL
 * divergence, src/eval/logprobs.ts).
 */
import { InputError } from '../errors.ts';
import type { Model } from '../model.ts';
import { feedRows, type FeedOptions } from './feed.ts';
import { allocTopK, KldAccumulator, MAX_TOP_K, recordTopK, type EvalMode, type KldSummary, type TopKLogProbs } from './logprobs.ts';
import { NllAccumulator, rowStats, type NllSummary } from './nll.ts';

/** Progress of a perplexity run, for progress bars. */
export interface PerplexityProgress {
  /** Positions scored so far. */
  done: number;
  /** Positions to score in all. */
  total: number;
  /** Perplexity over the positions scored so far. */
  perplexity: number;
  /** Mean KL divergence so far (only when comparing). */
  meanKld?: number;
}

/** Options of {@link perplexity}. */
export interface PerplexityOptions extends FeedOptions {
  /**
   * llama-perplexity's windowed rule with windows of `ctx` tokens: the ids are cut into ⌊T / ctx⌋ windows (the
   * tail is dropped), each run from a fresh state with its first id replaced by `bosTokenId` when given, and only
   * positions ctx/2 … ctx − 2 of each window are scored (each predicting the next id), ctx − ⌊ctx/2⌋ − 1 per
   * window. Needs T ≥ 2·ctx. Absent: one streaming pass, every position t < T − 1 predicting ids[t + 1].
   */
  ctx?: number;
  /** The id that starts each window (windowed rule only): the tokenizer's BOS when its config adds one. */
  bosTokenId?: number;
  /** Keep the top `saveTopK` log-probabilities of every scored position (result.topK), for a later KLD run. */
  saveTopK?: number;
  /** Compare every scored position with these saved log-probabilities (result.kld); same ids and mode. */
  compare?: TopKLogProbs;
  /** Free-form description stored with saved log-probabilities. */
  source?: string;
  /** Called every `progressEvery` scored positions (default 64) and at the end. */
  onProgress?: (p: PerplexityProgress) => void;
  /** Positions between progress calls (default 64). */
  progressEvery?: number;
}

/** What {@link perplexity} measured. */
export interface PerplexityResult extends NllSummary {
  /** Token ids given. */
  tokens: number;
  /** How positions were chosen. */
  mode: EvalMode;
  /** Windows run (windowed rule only). */
  windows?: number;
  /** The saved top-k log-probabilities (with `saveTopK`). */
  topK?: TopKLogProbs;
  /** The KL divergence against `compare`. */
  kld?: KldSummary;
}

/** Where the scored positions are: runs of (window start, first scored offset, window length). */
interface Plan {
  mode: EvalMode;
  windows: { start: number; first: number; length: number }[];
  positions: number;
}

function plan(ids: ArrayLike<number>, V: number, o: PerplexityOptions): Plan {
  const T = ids.length;
  if (o.ctx === undefined) {
    if (T < 2) throw new InputError(`perplexity needs at least 2 tokens, got ${T}`);
    return { mode: { kind: 'stream' }, windows: [{ start: 0, first: 0, length: T }], positions: T - 1 };
  }
  const ctx = o.ctx;
  if (!Number.isInteger(ctx) || ctx < 4) throw new InputError(`ctx must be an integer ≥ 4, got ${ctx}`);
  if (T < 2 * ctx) throw new InputError(`the windowed rule with ctx ${ctx} needs at least ${2 * ctx} tokens, got ${T}`);
  if (o.bosTokenId !== undefined && !(Number.isInteger(o.bosTokenId) && o.bosTokenId >= 0 && o.bosTokenId < V)) {
    throw new InputError(`bosTokenId ${o.bosTokenId} is outside the vocabulary of ${V}`);
  }
  const n = Math.floor(T / ctx);
  const first = Math.floor(ctx / 2);
  const windows = Array.from({ length: n }, (_, w) => ({ start: w * ctx, first, length: ctx }));
  const mode: EvalMode = { kind: 'windows', ctx, ...(o.bosTokenId !== undefined ? { bosTokenId: o.bosTokenId } : {}) };
  return { mode, windows, positions: n * (ctx - first - 1) };
}

function checkCompare(base: TopKLogProbs, ids: ArrayLike<number>, p: Plan, V: number): void {
  const h = base.header;
  if (h.vocabSize !== V) throw new InputError(`the saved log-probabilities are for a vocabulary of ${h.vocabSize}, this model has ${V}`);
  if (JSON.stringify(h.mode) !== JSON.stringify(p.mode)) {
    throw new InputError(`the saved log-probabilities were made in mode ${JSON.stringify(h.mode)}, this run is ${JSON.stringify(p.mode)}`);
  }
  if (h.tokens !== ids.length || h.positions !== p.positions) {
    throw new InputError(`the saved log-probabilities cover ${h.tokens} tokens (${h.positions} positions), this run ${ids.length} (${p.positions})`);
  }
  for (let i = 0; i < ids.length; i++) {
    if (base.tokens[i] !== ids[i]) throw new InputError(`the saved log-probabilities are for other text: token ${i} is ${base.tokens[i]} there, ${ids[i]} here`);
  }
}

/**
 * The perplexity of `ids` under `model`: mean next-token NLL, exp of it, and their standard errors. At most
 * `rowChunk` rows of logits are alive at a time (constant memory in T; the scored positions run through
 * `prefill` with `allLogits`, src/eval/feed.ts); see {@link PerplexityOptions.ctx} for the windowed rule.
 * @throws InputError for too few ids, a bad ctx or k, or saved log-probabilities of another text or mode
 */
export async function perplexity(model: Model, ids: ArrayLike<number>, o: PerplexityOptions = {}): Promise<PerplexityResult> {
  const V = model.config.vocabSize;
  for (let i = 0; i < ids.length; i++) {
    if (!(Number.isInteger(ids[i]) && ids[i] >= 0 && ids[i] < V)) throw new InputError(`token ${i} is id ${ids[i]}, outside the vocabulary of ${V}`);
  }
  const p = plan(ids, V, o);
  if (o.saveTopK !== undefined && !(Number.isInteger(o.saveTopK) && o.saveTopK >= 1 && o.saveTopK <= Math.min(MAX_TOP_K, V))) {
    throw new InputError(`saveTopK must be an integer in [1, ${Math.min(MAX_TOP_K, V)}], got ${o.saveTopK}`);
  }
  if (o.compare) checkCompare(o.compare, ids, p, V);
  const nll = new NllAccumulator();
  const kld = o.compare ? new KldAccumulator(o.compare) : undefined;
  const topK = o.saveTopK
    ? allocTopK({ vocabSize: V, k: o.saveTopK, tokens: ids.length, positions: p.positions, mode: p.mode, nllSum: 0, ...(o.source ? { source: o.source } : {}) }, ids)
    : undefined;
  const scratch = topK ? new Uint8Array(V) : undefined;
  const every = o.progressEvery ?? 64;
  const progress = () =>
    o.onProgress?.({ done: nll.count, total: p.positions, perplexity: Math.exp(nll.sum / nll.count), ...(kld ? { meanKld: kld.summary().meanKld } : {}) });

  for (const w of p.windows) {
    // The window's ids without its last (whose logits predict nothing inside it), BOS first under the rule.
    const win = new Array<number>(w.length - 1);
    for (let i = 0; i < w.length - 1; i++) win[i] = ids[w.start + i];
    if (p.mode.bosTokenId !== undefined) win[0] = p.mode.bosTokenId;
    await feedRows(
      model,
      model.createState(),
      win,
      w.first,
      (t, row) => {
        const s = rowStats(row, V);
        const at = nll.count;
        nll.add(s.logSumExp - row[ids[w.start + t + 1]]);
        if (topK) recordTopK(topK, at, row, s, scratch!);
        kld?.add(at, row, s);
        if (nll.count % every === 0) progress();
      },
      o,
    );
  }
  progress();
  const summary = nll.summary();
  if (topK) topK.header.nllSum = summary.nllSum;
  return {
    ...summary,
    tokens: ids.length,
    mode: p.mode,
    ...(p.mode.kind === 'windows' ? { windows: p.windows.length } : {}),
    ...(topK ? { topK } : {}),
    ...(kld ? { kld: kld.summary() } : {}),
  };
}
