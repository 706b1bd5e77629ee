/**
 * Evaluation helpers: the negative log-likelihood of a token sequence under a model's logits, the figure behind
 * "held-out loss" and perplexity (= exp(mean NLL)).
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

/**
 * Next-token NLL of `ids` given `logits` (T, V) for the same ids (as `model.forward(ids)` returns them):
 * position t predicts ids[t+1]. The log-sum-exp is computed in f64 after subtracting the row's maximum.
 */
export function nextTokenNll(logits: Float32Array, ids: ArrayLike<number>, V: number): NllResult {
  let sum = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    const row = t * V;
    let m = -Infinity;
    for (let v = 0; v < V; v++) if (logits[row + v] > m) m = logits[row + v];
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(logits[row + v] - m);
    sum += m + Math.log(z) - logits[row + ids[t + 1]];
  }
  const count = Math.max(0, ids.length - 1);
  return { sum, count, mean: sum / count };
}
