/**
 * Saved top-k log-probabilities of a base run and the KL divergence of another run against them: how a user
 * judges q8/q4 (or another port) against bf16 without keeping T × V logits.
 *
 * Per scored position the file keeps the row's log-sum-exp and the log of the probability mass outside the top
 * k (both f64), and the k most likely ids with their raw f32 logits (log-probability = logit − logSumExp). The
 * KL divergence is then taken between the two (k + 1)-bucket distributions (the top-k ids
 * of the base, and "everything else"): a lower bound of the full-vocabulary KL (the log-sum inequality), exact
 * when the base puts all its mass on k ids, and exactly 0 for a model against itself, since both sides compute the same f64
 * expressions from the same f32 logits.
 *
 * File layout (little-endian):
 *   "FMTOPKLP" magic (8 bytes), u32 format version, u32 header length H, H bytes of UTF-8 JSON
 *   ({@link LogProbsHeader}), zero padding to a multiple of 4, then u32 tokens[header.tokens],
 *   then per position i < header.positions: f64 logSumExp, f64 restLogProb, u32 ids[k], f32 logits[k].
 */
import { InputError } from '../errors.ts';
import type { RowStats } from './nll.ts';

/** The file's magic bytes. */
const MAGIC = 'FMTOPKLP';
/** Format version written; the reader accepts only this one. */
export const LOGPROBS_FORMAT_VERSION = 1;
/** Largest k accepted (a saved position costs 16 + 8k bytes). */
export const MAX_TOP_K = 1024;

/** How the positions of a run were chosen: one streaming pass, or llama-perplexity's windows. */
export interface EvalMode {
  /** `stream`: every position predicts the next token; `windows`: the second half of each ctx-token window. */
  kind: 'stream' | 'windows';
  /** Window size (windows mode only). */
  ctx?: number;
  /** The id put first in each window (windows mode only; absent when the tokenizer adds no BOS). */
  bosTokenId?: number;
}

/** The JSON header of a saved top-k log-probabilities file. */
export interface LogProbsHeader {
  /** The model's vocabulary size. */
  vocabSize: number;
  /** Log-probabilities kept per position. */
  k: number;
  /** Token ids of the evaluated text (stored after the header). */
  tokens: number;
  /** Scored positions (records stored). */
  positions: number;
  /** How positions were chosen; a comparison run must use the same. */
  mode: EvalMode;
  /** Σ NLL of the base run over the positions, in nats. */
  nllSum: number;
  /** Free-form description of the base run (model folder, dtype, backend). */
  source?: string;
}

/** Top-k log-probabilities of every scored position of a run. */
export interface TopKLogProbs {
  /** What the file says about the run. */
  header: LogProbsHeader;
  /** The evaluated token ids (tokens). */
  tokens: Uint32Array;
  /** Per position: log Σ exp(logits) (positions). */
  logSumExp: Float64Array;
  /** Per position: log of the probability outside the top k (−Infinity when there is none). */
  restLogProb: Float64Array;
  /** Per position the top-k ids, most likely first (positions × k). */
  ids: Uint32Array;
  /** Their raw logits (positions × k); log-probability = logit − logSumExp of the position. */
  logits: Float32Array;
}

/** An empty {@link TopKLogProbs} for a run of known size, filled by {@link recordTopK}. */
export function allocTopK(header: LogProbsHeader, tokens: ArrayLike<number>): TopKLogProbs {
  const { positions: P, k } = header;
  return {
    header,
    tokens: Uint32Array.from(tokens),
    logSumExp: new Float64Array(P),
    restLogProb: new Float64Array(P),
    ids: new Uint32Array(P * k),
    logits: new Float32Array(P * k),
  };
}

/**
 * Writes position `p`'s record from its logits: the k largest (ties: lower id first), their log-probabilities
 * and the mass of the rest. `scratch` is a zeroed Uint8Array(V), returned zeroed.
 */
export function recordTopK(out: TopKLogProbs, p: number, logits: Float32Array, stats: RowStats, scratch: Uint8Array): void {
  const { k, vocabSize: V } = out.header;
  const ids = out.ids.subarray(p * k, (p + 1) * k);
  const vals = new Float64Array(k).fill(-Infinity);
  let n = 0;
  for (let v = 0; v < V; v++) {
    const x = logits[v];
    if (n === k && !(x > vals[k - 1])) continue;
    let i = n < k ? n++ : k - 1;
    while (i > 0 && x > vals[i - 1]) {
      vals[i] = vals[i - 1];
      ids[i] = ids[i - 1];
      i--;
    }
    vals[i] = x;
    ids[i] = v;
  }
  for (let i = 0; i < k; i++) {
    out.logits[p * k + i] = vals[i];
    scratch[ids[i]] = 1;
  }
  out.logSumExp[p] = stats.logSumExp;
  out.restLogProb[p] = restLogProb(logits, V, stats, scratch);
  for (let i = 0; i < k; i++) scratch[ids[i]] = 0;
}

/** log Σ_{v not marked} exp(logits[v] − logSumExp), summed directly (not as 1 − Σ top, which cancels). */
function restLogProb(logits: Float32Array, V: number, stats: RowStats, marked: Uint8Array): number {
  let z = 0;
  for (let v = 0; v < V; v++) if (marked[v] === 0) z += Math.exp(logits[v] - stats.max);
  return z > 0 ? stats.max + Math.log(z) - stats.logSumExp : -Infinity;
}

/** Running KL divergence of a run against saved top-k log-probabilities. */
export interface KldSummary {
  /** Positions compared. */
  positions: number;
  /** Mean KL(base ‖ this) over positions, in nats. */
  meanKld: number;
  /** Standard error of the mean KLD. */
  meanKldStdErr: number;
  /** Largest per-position KLD. */
  maxKld: number;
  /** Fraction of positions where this run's greedy token is the base's. */
  top1Agreement: number;
  /** Mean |logit − base logit| over the base's top-k ids of every position. */
  meanLogitError: number;
  /** The base run's mean NLL over the same positions. */
  baseMeanNll: number;
}

/** Accumulates the KL divergence of one run's rows against a {@link TopKLogProbs}. */
export class KldAccumulator {
  private n = 0;
  private sum = 0;
  private sumSq = 0;
  private max = 0;
  private agree = 0;
  private logitErr = 0;
  private readonly scratch: Uint8Array;

  constructor(
    /** The saved run compared against. */
    readonly base: TopKLogProbs,
  ) {
    this.scratch = new Uint8Array(base.header.vocabSize);
  }

  /** Compares position `p` (the run's p-th scored row) with the base's record p. */
  add(p: number, logits: Float32Array, stats: RowStats): void {
    const b = this.base;
    const { k, vocabSize: V } = b.header;
    let kl = 0;
    let err = 0;
    for (let i = 0; i < k; i++) {
      const id = b.ids[p * k + i];
      const lp = b.logits[p * k + i] - b.logSumExp[p];
      const lq = logits[id] - stats.logSumExp;
      if (lp > -Infinity) kl += Math.exp(lp) * (lp - lq);
      err += Math.abs(logits[id] - b.logits[p * k + i]);
      this.scratch[id] = 1;
    }
    const rp = b.restLogProb[p];
    if (rp > -Infinity) kl += Math.exp(rp) * (rp - restLogProb(logits, V, stats, this.scratch));
    for (let i = 0; i < k; i++) this.scratch[b.ids[p * k + i]] = 0;
    this.n++;
    this.sum += kl;
    this.sumSq += kl * kl;
    if (kl > this.max) this.max = kl;
    if (stats.argmax === b.ids[p * k]) this.agree++;
    this.logitErr += err / k;
  }

  /** The figures so far. */
  summary(): KldSummary {
    const n = this.n;
    const mean = this.sum / n;
    const variance = this.sumSq / n - mean * mean;
    return {
      positions: n,
      meanKld: mean,
      meanKldStdErr: n > 1 ? Math.sqrt(Math.max(0, variance) / (n - 1)) : NaN,
      maxKld: this.max,
      top1Agreement: this.agree / n,
      meanLogitError: this.logitErr / n,
      baseMeanNll: this.base.header.nllSum / this.base.header.positions,
    };
  }
}

/** The bytes of a {@link TopKLogProbs} in the versioned layout above. */
export function encodeTopK(t: TopKLogProbs): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(t.header));
  const head = align4(16 + json.length);
  const { positions: P, k, tokens: T } = t.header;
  const size = head + 4 * T + P * (16 + 8 * k);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = MAGIC.charCodeAt(i);
  dv.setUint32(8, LOGPROBS_FORMAT_VERSION, true);
  dv.setUint32(12, json.length, true);
  out.set(json, 16);
  let o = head;
  for (let i = 0; i < T; i++, o += 4) dv.setUint32(o, t.tokens[i], true);
  for (let p = 0; p < P; p++) {
    dv.setFloat64(o, t.logSumExp[p], true);
    dv.setFloat64(o + 8, t.restLogProb[p], true);
    o += 16;
    for (let i = 0; i < k; i++, o += 4) dv.setUint32(o, t.ids[p * k + i], true);
    for (let i = 0; i < k; i++, o += 4) dv.setFloat32(o, t.logits[p * k + i], true);
  }
  return out;
}

/**
 * Reads bytes written by {@link encodeTopK}, checking everything a reader relies on.
 * @param where names the file in messages
 * @throws InputError for another magic or version, a bad header, a size that does not match the header, an id
 * out of the vocabulary, or a logit above its position's log-sum-exp
 */
export function decodeTopK(bytes: Uint8Array, where = 'log-probabilities file'): TopKLogProbs {
  const bad = (what: string): never => {
    throw new InputError(`${where}: ${what}`);
  };
  if (bytes.length < 16) bad(`truncated (${bytes.length} bytes, the header alone is 16)`);
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== MAGIC) bad(`not a falcon-mamba log-probabilities file (magic ${JSON.stringify(magic)}, expected ${JSON.stringify(MAGIC)})`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== LOGPROBS_FORMAT_VERSION) bad(`format version ${version}, this reader knows ${LOGPROBS_FORMAT_VERSION} (save it again with --save-logits)`);
  const H = dv.getUint32(12, true);
  if (16 + H > bytes.length) bad(`header of ${H} bytes runs past the end (${bytes.length} bytes)`);
  let header: LogProbsHeader;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(16, 16 + H)));
  } catch (e) {
    return bad(`header is not UTF-8 JSON: ${(e as Error).message}`);
  }
  checkHeader(header, bad);
  const { positions: P, k, tokens: T, vocabSize: V } = header;
  const head = align4(16 + H);
  const size = head + 4 * T + P * (16 + 8 * k);
  if (bytes.length !== size) bad(`${bytes.length} bytes, the header (${T} tokens, ${P} positions, k ${k}) needs ${size}`);
  const t = allocTopK(header, []);
  t.tokens = new Uint32Array(T);
  let o = head;
  for (let i = 0; i < T; i++, o += 4) {
    const id = dv.getUint32(o, true);
    if (id >= V) bad(`token ${i} is id ${id}, outside the vocabulary of ${V}`);
    t.tokens[i] = id;
  }
  for (let p = 0; p < P; p++) {
    const lse = dv.getFloat64(o, true);
    const rest = dv.getFloat64(o + 8, true);
    if (!Number.isFinite(lse)) bad(`position ${p}: log-sum-exp ${lse} is not finite`);
    if (!(rest <= 0)) bad(`position ${p}: rest log-probability ${rest} is not ≤ 0`);
    t.logSumExp[p] = lse;
    t.restLogProb[p] = rest;
    o += 16;
    for (let i = 0; i < k; i++, o += 4) {
      const id = dv.getUint32(o, true);
      if (id >= V) bad(`position ${p}: id ${id} outside the vocabulary of ${V}`);
      t.ids[p * k + i] = id;
    }
    for (let i = 0; i < k; i++, o += 4) {
      const x = dv.getFloat32(o, true);
      // A logit is at most the log-sum-exp of its row (f32 rounding of the logit aside).
      if (!(x - lse <= 1e-5 * Math.max(1, Math.abs(lse)))) bad(`position ${p}: logit ${x} of id ${t.ids[p * k + i]} exceeds the row's log-sum-exp ${lse}`);
      t.logits[p * k + i] = x;
    }
  }
  return t;
}

function checkHeader(h: LogProbsHeader, bad: (what: string) => never): void {
  if (h === null || typeof h !== 'object' || Array.isArray(h)) bad('header is not a JSON object');
  const int = (name: keyof LogProbsHeader, min: number, max = 2 ** 32 - 1) => {
    const v = h[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`header field ${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  };
  int('vocabSize', 1);
  int('k', 1, Math.min(MAX_TOP_K, h.vocabSize));
  int('tokens', 0, 2 ** 28);
  int('positions', 0, 2 ** 28);
  if (typeof h.nllSum !== 'number' || !Number.isFinite(h.nllSum)) bad(`header field nllSum must be a finite number, got ${JSON.stringify(h.nllSum)}`);
  const m = h.mode;
  if (m === null || typeof m !== 'object' || (m.kind !== 'stream' && m.kind !== 'windows')) bad(`header field mode must be {kind: "stream" | "windows"}, got ${JSON.stringify(m)}`);
  if (m.kind === 'windows' && (typeof m.ctx !== 'number' || !Number.isInteger(m.ctx) || m.ctx < 2)) bad(`header field mode.ctx must be an integer ≥ 2, got ${JSON.stringify(m.ctx)}`);
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
