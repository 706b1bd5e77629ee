/**
 * Per-row log-softmax arithmetic shared by every evaluation: the negative log-likelihood of a target under one
 * row of logits, and the running sums behind a mean NLL, a perplexity and their standard errors.
 *
 * Every sum is in f64 after subtracting the row's maximum (the log-sum-exp trick), so a row of 65 024 f32 logits
 * loses nothing to overflow or to f32 accumulation.
 */

/** Sum and mean of the next-token negative log-likelihoods of a sequence. */
export interface NllResult {
  /** Σ_t −log softmax(logits[t])[ids[t+1]], in nats. */
  sum: number;
  /** Predictions counted: ids.length − 1 (0 for fewer than 2 ids). */
  count: number;
  /** sum / count (NaN when count is 0). */
  mean: number;
}

/** The maximum of a row, its first index, and log Σ exp(row). */
export interface RowStats {
  /** Largest logit. */
  max: number;
  /** Index of the first largest logit (the greedy token). */
  argmax: number;
  /** log Σ_v exp(row[v]), in f64: log-probability of v is row[v] − logSumExp. */
  logSumExp: number;
}

/** {@link RowStats} of `logits[offset .. offset+V)`. */
export function rowStats(logits: Float32Array, V: number, offset = 0): RowStats {
  let m = -Infinity;
  let arg = 0;
  for (let v = 0; v < V; v++) {
    const x = logits[offset + v];
    if (x > m) {
      m = x;
      arg = v;
    }
  }
  let z = 0;
  for (let v = 0; v < V; v++) z += Math.exp(logits[offset + v] - m);
  return { max: m, argmax: arg, logSumExp: m + Math.log(z) };
}

/**
 * Next-token NLL of `ids` given `logits` (T, V) for the same ids (as `model.forward(ids)` returns them):
 * position t predicts ids[t+1]. The log-sum-exp is computed in f64 after subtracting the row's maximum.
 */
export function nextTokenNll(logits: Float32Array, ids: ArrayLike<number>, V: number): NllResult {
  let sum = 0;
  for (let t = 0; t + 1 < ids.length; t++) sum += rowStats(logits, V, t * V).logSumExp - logits[t * V + ids[t + 1]];
  const count = Math.max(0, ids.length - 1);
  return { sum, count, mean: sum / count };
}

/** Summary statistics of a set of per-token NLLs. */
export interface NllSummary {
  /** Predictions scored. */
  count: number;
  /** Σ NLL, in nats. */
  nllSum: number;
  /** Σ NLL / count (NaN for none). */
  meanNll: number;
  /** Standard error of the mean NLL: sqrt((E[nll²] − E[nll]²) / (count − 1)) (NaN for fewer than 2). */
  meanNllStdErr: number;
  /** exp(meanNll). */
  perplexity: number;
  /**
   * Standard error of the perplexity by the delta method, perplexity × meanNllStdErr (llama-perplexity's
   * "PPL = x +/- y").
   */
  perplexityStdErr: number;
}

/** Running Σ nll and Σ nll² (f64). */
export class NllAccumulator {
  /** Predictions added. */
  count = 0;
  /** Σ nll. */
  sum = 0;
  /** Σ nll². */
  sumSq = 0;

  /** Adds one prediction's NLL. */
  add(nll: number): void {
    this.count++;
    this.sum += nll;
    this.sumSq += nll * nll;
  }

  /** The mean, perplexity and their standard errors so far. */
  summary(): NllSummary {
    const n = this.count;
    const mean = this.sum / n;
    const variance = this.sumSq / n - mean * mean;
    const se = n > 1 ? Math.sqrt(Math.max(0, variance) / (n - 1)) : NaN;
    const ppl = Math.exp(mean);
    return { count: n, nllSum: this.sum, meanNll: mean, meanNllStdErr: se, perplexity: ppl, perplexityStdErr: ppl * se };
  }
}
