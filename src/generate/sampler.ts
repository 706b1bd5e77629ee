/**
 * The sampler: logits (V) of the last position → the next token id. Pure functions over a logits row, plus a
 * small seeded PRNG owned by each generation (no global `Math.random`).
 *
 * Order, as in Hugging Face transformers `GenerationMixin._get_logits_processor` (the LogitsProcessorList it
 * builds: `RepetitionPenaltyLogitsProcessor` first among the processors, then the warpers
 * `TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`, `MinPLogitsWarper`), then
 * `softmax` + `torch.multinomial` when sampling, or `argmax` when greedy:
 *
 *   1. repetition penalty  ℓ_i ← ℓ_i / r  if ℓ_i > 0,  ℓ_i · r  otherwise   (i ∈ tokens seen: prompt + generated)
 *   2. temperature         ℓ_i ← ℓ_i / T
 *   3. top-k               ℓ_i ← −∞  if ℓ_i < (k-th largest ℓ)              (ties with the k-th are kept)
 *   4. top-p (nucleus)     sort ascending, p = softmax(ℓ), c_j = Σ_{m≤j} p_m; drop those with c_j ≤ 1 − P
 *                          (the smallest set of most likely tokens whose mass exceeds P survives; ≥ 1 kept)
 *   5. min-p               p = softmax(ℓ); ℓ_i ← −∞  if p_i < m · max(p)
 *   6. draw                i ~ softmax(ℓ)  (temperature > 0);  argmax ℓ  (temperature = 0, greedy)
 *
 * Greedy decoding skips steps 2–5 (HF applies warpers only with `do_sample=True`) but keeps the repetition
 * penalty, as HF does. Each step writes `−∞` in place, exactly like the HF processors mask scores.
 */
import { InputError } from '../errors.ts';

/** Sampling options. Every one is optional; the defaults disable the step. */
export interface SamplerOptions {
  /** T: 0 (default) = greedy argmax; > 0 divides the logits before drawing. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined = off). */
  topK?: number;
  /** Nucleus: keep the most likely tokens whose probability mass reaches P (1 or undefined = off). */
  topP?: number;
  /** Drop tokens less likely than m × the most likely one (0 or undefined = off). */
  minP?: number;
  /** r > 1 discourages tokens already seen (prompt and output), CTRL-style (1 or undefined = off). */
  repetitionPenalty?: number;
}

/** A uniform PRNG: returns a float in [0, 1). */
export type Random = () => number;

/**
 * xoshiro128** (Blackman & Vigna, 2018) seeded through splitmix32: a small, fast, well-mixed 32-bit generator.
 * Each generation owns one, so the same seed gives the same tokens whatever else runs in the process.
 * @param seed any integer (taken modulo 2^32; negative and large values are fine)
 */
export function xoshiro128ss(seed: number): Random {
  // splitmix32 expands one 32-bit seed into the 128-bit state (never all zero).
  let s = (Math.trunc(seed) >>> 0) | 0;
  const split = (): number => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split(), b = split(), c = split(), d = split();
  return () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return r / 4294967296;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A random 32-bit seed from the platform's CSPRNG (used when no seed is given). */
export function randomSeed(): number {
  const a = new Uint32Array(1);
  globalThis.crypto.getRandomValues(a);
  return a[0];
}

/**
 * Step 1, HF `RepetitionPenaltyLogitsProcessor`: every token id in `seen` (each counted once) gets
 * `ℓ / r` when its logit is positive and `ℓ · r` otherwise. In place.
 */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) {
    const l = logits[id];
    logits[id] = l > 0 ? l / penalty : l * penalty;
  }
}

/** Step 2, HF `TemperatureLogitsWarper`: ℓ ← ℓ / T. In place. */
export function applyTemperature(logits: Float32Array, temperature: number): void {
  if (temperature === 1) return;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i] / temperature;
    // A tiny temperature (1e-300) overflows f32: every draw would then be the same wrong token. transformers
    // fails there too (torch.multinomial: "probability tensor contains either inf, nan or element < 0").
    if (!Number.isFinite(Math.fround(x)) && Number.isFinite(logits[i])) {
      throw new InputError(`temperature ${temperature} is too small: logit ${logits[i]} / ${temperature} overflows float32 (use temperature 0 for greedy decoding)`);
    }
    logits[i] = x;
  }
}

/**
 * Step 3, HF `TopKLogitsWarper`: masks (−∞) every logit below the k-th largest. Values equal to the k-th
 * largest survive, as in HF (`scores < topk(scores, k)[..., -1]`). In place.
 */
export function applyTopK(logits: Float32Array, k: number): void {
  if (!(k > 0) || k >= logits.length) return;
  const kth = kthLargest(logits, k);
  for (let i = 0; i < logits.length; i++) if (logits[i] < kth) logits[i] = -Infinity;
}

/** The k-th largest value (1-based) of `values`. */
function kthLargest(values: Float32Array, k: number): number {
  // Sorting a copy is O(V log V); for V = 65k that is a few ms, small beside a 7B forward pass.
  const sorted = Float32Array.from(values).sort();
  return sorted[sorted.length - k];
}

/**
 * Step 4, HF `TopPLogitsWarper`: sorts ascending, accumulates softmax probabilities and masks the tokens whose
 * cumulative probability is ≤ 1 − P; the most likely token always survives. In place.
 *
 * Only the cut-off value is needed, so the values (not the indices) are sorted — a native numeric sort, 5×
 * faster than sorting indices with a comparator at V = 65k. Tokens tied with the cut-off value all survive
 * (HF's `torch.sort` is not stable, so which of equal logits it keeps is unspecified anyway).
 */
export function applyTopP(logits: Float32Array, topP: number): void {
  if (!(topP < 1)) return;
  let n = 0;
  for (let i = 0; i < logits.length; i++) if (logits[i] !== -Infinity) n++;
  if (n === 0) return;
  const sorted = new Float32Array(n);
  for (let i = 0, j = 0; i < logits.length; i++) if (logits[i] !== -Infinity) sorted[j++] = logits[i];
  sorted.sort(); // ascending
  const max = sorted[n - 1];
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(sorted[j] - max);
  let cum = 0;
  let cut = max; // the most likely token always survives (min_tokens_to_keep = 1)
  for (let j = 0; j < n - 1; j++) {
    cum += Math.exp(sorted[j] - max) / sum;
    if (cum > 1 - topP) {
      cut = sorted[j];
      break;
    }
  }
  for (let i = 0; i < logits.length; i++) if (logits[i] < cut) logits[i] = -Infinity;
}

/** Step 5, HF `MinPLogitsWarper`: masks tokens with probability below `minP · max p`. In place. */
export function applyMinP(logits: Float32Array, minP: number): void {
  if (!(minP > 0)) return;
  const idx = finiteIndices(logits);
  const probs = softmaxOf(logits, idx);
  let top = 0;
  for (const p of probs) top = Math.max(top, p);
  const threshold = minP * top;
  for (let j = 0; j < idx.length; j++) if (probs[j] < threshold) logits[idx[j]] = -Infinity;
}

/** Indices of the finite (not masked) logits. */
function finiteIndices(logits: Float32Array): number[] {
  const idx: number[] = [];
  for (let i = 0; i < logits.length; i++) if (logits[i] !== -Infinity) idx.push(i);
  return idx;
}

/** softmax over `logits[idx[j]]`, in f64, in the order of `idx`. */
function softmaxOf(logits: Float32Array, idx: readonly number[]): Float64Array {
  let max = -Infinity;
  for (const i of idx) max = Math.max(max, logits[i]);
  const p = new Float64Array(idx.length);
  let sum = 0;
  for (let j = 0; j < idx.length; j++) sum += p[j] = Math.exp(logits[idx[j]] - max);
  for (let j = 0; j < p.length; j++) p[j] /= sum;
  return p;
}

/** Step 6 (greedy): the index of the largest logit; the first one on ties, like `torch.argmax`. */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * Step 6 (sampling): draws i with probability softmax(ℓ)_i using one uniform number from `random`
 * (inverse-CDF over the unmasked tokens, in f64).
 */
export function sampleFromLogits(logits: Float32Array, random: Random): number {
  const idx = finiteIndices(logits);
  if (idx.length === 0) return argmax(logits);
  const probs = softmaxOf(logits, idx);
  const u = random();
  let cum = 0;
  for (let j = 0; j < idx.length; j++) {
    cum += probs[j];
    if (u < cum) return idx[j];
  }
  return idx[idx.length - 1]; // u within rounding of 1
}

/**
 * The whole sampler: applies steps 1–5 to a copy of `logits` and draws (or takes the argmax when greedy).
 * @param logits the last position's logits (V); not modified
 * @param seen tokens for the repetition penalty (prompt + generated so far)
 * @param options see {@link SamplerOptions}
 * @param random the generation's PRNG (unused when greedy)
 */
export function sampleToken(logits: Float32Array, seen: Iterable<number>, options: SamplerOptions, random: Random): number {
  const temperature = options.temperature ?? 0;
  const penalty = options.repetitionPenalty ?? 1;
  if (temperature === 0 && penalty === 1) return argmax(logits);
  const l = Float32Array.from(logits);
  applyRepetitionPenalty(l, seen, penalty);
  if (temperature === 0) return argmax(l);
  applyTemperature(l, temperature);
  applyTopK(l, options.topK ?? 0);
  applyTopP(l, options.topP ?? 1);
  applyMinP(l, options.minP ?? 0);
  return sampleFromLogits(l, random);
}

/**
 * Checks sampler options, naming the bad one.
 * @returns a message, or `null` when all are valid
 */
export function samplerOptionsProblem(o: SamplerOptions): string | null {
  const t = o.temperature;
  if (t !== undefined && !(Number.isFinite(t) && t >= 0)) return `temperature must be a number ≥ 0, got ${t}`;
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) return `topK must be an integer ≥ 0, got ${o.topK}`;
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) return `topP must be in (0, 1], got ${o.topP}`;
  if (o.minP !== undefined && !(o.minP >= 0 && o.minP <= 1)) return `minP must be in [0, 1], got ${o.minP}`;
  const r = o.repetitionPenalty;
  if (r !== undefined && !(Number.isFinite(r) && r > 0)) return `repetitionPenalty must be a number > 0, got ${r}`;
  return null;
}
