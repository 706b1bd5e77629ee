/**
 * One sequence of a request: its own sampler, PRNG, penalties, stop strings, text decoder and log-probs. The
 * scheduler owns the model and feeds a sequence's pending token; the sequence turns each logits row into the
 * next token and its text, and says when it is finished. A request with `n` choices forks `n` sequences
 * from the state after its prompt.
 */
import { findStop, stopHoldback } from '../generate/generate.ts';
import { sampleToken, xoshiro128ss, type Random, type SamplerOptions } from '../generate/sampler.ts';
import type { ModelState } from '../model.ts';
import { StreamDecoder } from '../tokenizer/stream.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';

/** How one sequence samples and ends: the request's fields, validated. */
export interface SequenceSpec {
  /** Most tokens to generate (an end-of-sequence token counts). */
  maxTokens: number;
  /** Temperature, top-k/p, min-p, repetition penalty (src/generate/sampler.ts). */
  sampler: SamplerOptions;
  /**
   * OpenAI's additive penalties over the tokens generated so far: ℓ_j −= c_j·frequency + [c_j > 0]·presence
   * (platform.openai.com "frequency and presence penalties"), applied before the sampler's steps.
   */
  frequencyPenalty: number;
  /** See {@link frequencyPenalty}. */
  presencePenalty: number;
  /** The PRNG seed of choice 0 (choice i uses seed + i); undefined: random. */
  seed: number | undefined;
  /** Stop strings (not emitted). */
  stop: readonly string[];
  /** Ids that end the sequence (finish_reason `stop`; the id's text is not emitted). */
  eosTokenIds: ReadonlySet<number>;
  /** How many top log-probs to return per token; null: no log-probs. */
  topLogprobs: number | null;
}

/** The log-prob of a chosen token and the most likely alternatives, from the raw logits (before sampling steps). */
export interface TokenLogprob {
  /** The token id. */
  id: number;
  /** ln p(id). */
  logprob: number;
  /** The `k` most likely ids with their ln p, most likely first. */
  top: Array<[number, number]>;
}

/** What one accepted token produced. */
export interface TokenOut {
  /** The token id. */
  token: number;
  /** Text completed by this token (stop strings held back or cut). */
  text: string;
  /** Its log-prob, when asked for. */
  logprob?: TokenLogprob;
}

/** Why a sequence ended, in OpenAI terms (`abort`: the client left or the server shut down). */
export type SequenceFinish = 'stop' | 'length' | 'abort';

/**
 * ln softmax(logits)[id] and the top `k` (k may be 0), in f64. O(V + V·k) for small k.
 */
export function logprobOf(logits: Float32Array, id: number, k: number): TokenLogprob {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const top: Array<[number, number]> = [];
  if (k > 0) {
    // Partial selection: keep the k best in a small sorted list (k ≤ 20).
    for (let i = 0; i < logits.length; i++) {
      const v = logits[i];
      if (top.length === k && v <= top[k - 1][1]) continue;
      let at = top.length;
      while (at > 0 && top[at - 1][1] < v) at--;
      top.splice(at, 0, [i, v]);
      if (top.length > k) top.pop();
    }
    for (const t of top) t[1] -= lse;
  }
  return { id, logprob: logits[id] - lse, top };
}

/** One generating sequence (a choice of a request). */
export class Sequence {
  /** Generated ids, eos included. */
  readonly tokens: number[] = [];
  /** The text so far (stop string excluded). */
  text = '';
  /** Log-probs per generated token (when asked for). */
  readonly logprobs: TokenLogprob[] = [];
  /** Set once the sequence has ended. */
  finish: SequenceFinish | null = null;
  /** The last generated token, not yet fed into `state` (null before the first or after the end). */
  pending: number | null = null;
  private readonly random: Random;
  private readonly seen: number[];
  private readonly counts = new Map<number, number>();
  private readonly decoder: StreamDecoder;
  private held = '';

  /**
   * @param index the choice index
   * @param state this sequence's own state (the prompt fed)
   * @param promptIds every id in the state, for the repetition penalty (HF penalizes all of `input_ids`)
   */
  constructor(
    readonly index: number,
    readonly state: ModelState,
    promptIds: readonly number[],
    readonly spec: SequenceSpec,
    private readonly tokenizer: Tokenizer,
    seed: number,
  ) {
    this.random = xoshiro128ss(seed + index);
    this.seen = [...promptIds];
    this.decoder = new StreamDecoder(tokenizer, { skipSpecialTokens: true });
  }

  /**
   * Turns the logits of the last fed position into the next token, its text and log-prob, and decides
   * whether the sequence has ended. After this, `pending` is the id to feed next (null when finished).
   */
  accept(logits: Float32Array): TokenOut {
    const s = this.spec;
    let row = logits;
    if ((s.frequencyPenalty !== 0 || s.presencePenalty !== 0) && this.counts.size > 0) {
      row = Float32Array.from(logits);
      for (const [id, c] of this.counts) row[id] -= c * s.frequencyPenalty + s.presencePenalty;
    }
    const token = sampleToken(row, this.seen, s.sampler, this.random);
    const out: TokenOut = { token, text: '' };
    if (s.topLogprobs !== null) {
      out.logprob = logprobOf(logits, token, s.topLogprobs);
      this.logprobs.push(out.logprob);
    }
    this.tokens.push(token);
    this.seen.push(token);
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
    const isEos = s.eosTokenIds.has(token);
    const last = isEos || this.tokens.length >= s.maxTokens;
    if (!isEos) this.held += this.push(token);
    if (last) this.held += this.decoder.flush();
    const hit = findStop(this.held, s.stop);
    if (hit) {
      out.text = this.held.slice(0, hit[0]);
      this.end('stop');
    } else {
      const keep = last ? 0 : stopHoldback(this.held, s.stop);
      out.text = this.held.slice(0, this.held.length - keep);
      this.held = this.held.slice(this.held.length - keep);
      if (last) this.end(isEos ? 'stop' : 'length');
      else this.pending = token;
    }
    this.text += out.text;
    return out;
  }

  /** Ends the sequence (an abort keeps what was generated). */
  end(reason: SequenceFinish): void {
    if (this.finish === null) this.finish = reason;
    this.pending = null;
  }

  /** The text of an id the tokenizer does not know (a padded vocabulary) is empty rather than an error. */
  private push(id: number): string {
    try {
      return this.decoder.push(id);
    } catch {
      return '';
    }
  }
}
