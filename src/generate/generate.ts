/**
 * Generation: prompt → prefill (chunked) → sample → step → sample … as an async iterator.
 *
 * Two levels:
 * - {@link generateIds}: token ids in, token ids out. No tokenizer; this is what the goldens check.
 * - {@link generate}: text in, `{ token, text }` out, built on `generateIds`, with a {@link StreamDecoder} for
 *   UTF-8-safe text and stop strings matched across token boundaries.
 *
 * The recurrent state is a value: pass `state` to continue a sequence (a conversation, a cached system
 * prompt). After a generation the state holds the prompt and every generated token except the last one
 * (`summary.pendingToken`): that token's logits were never needed, so it was not fed. To continue, feed it
 * first (ChatSession does).
 */
import { InputError } from '../errors.ts';
import type { Model, ModelState } from '../model.ts';
import { StreamDecoder } from '../tokenizer/stream.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { randomSeed, sampleToken, samplerOptionsProblem, xoshiro128ss, type SamplerOptions } from './sampler.ts';

/** Why a generation ended. */
export type FinishReason = 'eos' | 'stop' | 'length' | 'abort';

/** Options of {@link generateIds}. */
export interface GenerateIdsOptions extends SamplerOptions {
  /** Most tokens to generate (default 256). An eos token counts. */
  maxTokens?: number;
  /** Seed of this generation's PRNG: the same seed gives the same tokens. Default: a random seed. */
  seed?: number;
  /** Ids that end the generation; the eos token is yielded (with no text), as HF includes it. Default none. */
  eosTokenIds?: readonly number[];
  /**
   * Ends the generation (finishReason `abort`): checked before each model call and passed down to it, so a long
   * prefill or step stops inside (src/model.ts `CallOptions`).
   */
  signal?: AbortSignal;
  /** A state to continue (advanced in place). Default: a fresh state. */
  state?: ModelState;
  /**
   * Token ids already in `state`, for the repetition penalty (HF penalizes every id of `input_ids`, which
   * includes the whole history). Default: none.
   */
  history?: readonly number[];
  /** Prompt tokens per `prefill` call (default 512): between chunks the signal is checked. */
  prefillChunkSize?: number;
}

/** What a finished generation did. */
export interface GenerationSummary {
  /** Why it ended: an eos id, a stop string, `maxTokens`, or the signal (or a `break`). */
  finishReason: FinishReason;
  /** The ids yielded (generated), eos included when it ended the generation. */
  tokens: number[];
  /** Prompt tokens fed by prefill. */
  promptTokens: number;
  /** The state: prompt + all generated tokens but the last. */
  state: ModelState;
  /** The last generated token, not yet fed into `state` (null when nothing was generated). */
  pendingToken: number | null;
  /** The seed the PRNG used. */
  seed: number;
  /** Wall time of the prefill (ms). */
  prefillMs: number;
  /** Wall time of the decode loop (ms): sampling and `step` calls. */
  decodeMs: number;
  /** `step` calls made (one fewer than the tokens: the last one is never fed). */
  steps: number;
  /** The stop string that ended the generation (finishReason `stop`). */
  stopString?: string;
}

/**
 * A running generation: iterate it (once) for its events. `summary` appears when it starts and is final when
 * the iteration ends (also after a `break` out of the loop: finishReason `abort`); `done()` runs it to the end.
 */
export class Generation<E> implements AsyncIterable<E> {
  /** The generation's summary: live while it runs, final once the iteration has ended. */
  summary: GenerationSummary | undefined;
  private readonly source: AsyncGenerator<E, GenerationSummary>;
  private started = false;

  /** @internal `run` gets a callback to publish its (live) summary object as soon as it exists. */
  constructor(run: (publish: (s: GenerationSummary) => void) => AsyncGenerator<E, GenerationSummary>) {
    this.source = run((s) => {
      this.summary = s;
    });
  }

  /** The events, in order; a Generation can be iterated once. */
  async *[Symbol.asyncIterator](): AsyncGenerator<E, void> {
    if (this.started) throw new InputError('a Generation can be iterated only once');
    this.started = true;
    let finished = false;
    try {
      for (;;) {
        const r = await this.source.next();
        if (r.done) {
          this.summary = r.value;
          finished = true;
          return;
        }
        yield r.value;
      }
    } finally {
      // A `break` in the consumer's loop: end the source so that its own cleanup runs.
      if (!finished) await this.source.return(undefined as never);
    }
  }

  /** Runs the generation (or the rest of it) to its end and returns the summary. */
  async done(): Promise<GenerationSummary> {
    if (!this.started) for await (const _ of this);
    if (!this.summary) throw new InputError('the generation has not started');
    return this.summary;
  }
}

/** One generated token. */
export interface TokenEvent {
  /** The generated token id. */
  token: number;
}

function checkOptions(o: GenerateIdsOptions): void {
  const problem = samplerOptionsProblem(o);
  if (problem) throw new InputError(problem);
  if (o.maxTokens !== undefined && !(Number.isInteger(o.maxTokens) && o.maxTokens >= 0)) throw new InputError(`maxTokens must be an integer ≥ 0, got ${o.maxTokens}`);
  if (o.prefillChunkSize !== undefined && !(Number.isInteger(o.prefillChunkSize) && o.prefillChunkSize > 0)) {
    throw new InputError(`prefillChunkSize must be a positive integer, got ${o.prefillChunkSize}`);
  }
  if (o.seed !== undefined && !Number.isFinite(o.seed)) throw new InputError(`seed must be a number, got ${o.seed}`);
}

/**
 * Generates token ids after `promptIds`. The prompt is fed by `prefill` in chunks, then each token by `step`.
 * @param model any backend
 * @param promptIds at least one id (with `state`, the ids that extend it)
 * @returns a {@link Generation} of `{ token }` events
 * @throws InputError (when iterated) for bad options, an empty prompt, an id outside the vocabulary
 */
export function generateIds(model: Model, promptIds: ArrayLike<number>, options: GenerateIdsOptions = {}): Generation<TokenEvent> {
  const ids = Array.from(promptIds);
  return new Generation<TokenEvent>((publish) => runIds(model, ids, options, publish));
}

async function* runIds(model: Model, prompt: number[], o: GenerateIdsOptions, publish: (s: GenerationSummary) => void): AsyncGenerator<TokenEvent, GenerationSummary> {
  checkOptions(o);
  if (prompt.length === 0) throw new InputError('the prompt has no tokens (generation needs at least one id to start from)');
  const maxTokens = o.maxTokens ?? 256;
  const eos = new Set(o.eosTokenIds ?? []);
  const seed = o.seed === undefined ? randomSeed() : Math.trunc(o.seed) >>> 0;
  const random = xoshiro128ss(seed);
  const chunk = o.prefillChunkSize ?? 512;
  const state = o.state ?? model.createState();
  const seen: number[] = [...(o.history ?? []), ...prompt];
  const summary: GenerationSummary = {
    finishReason: 'abort', tokens: [], promptTokens: 0, state, pendingToken: null, seed, prefillMs: 0, decodeMs: 0, steps: 0,
  };
  publish(summary);
  const aborted = () => o.signal?.aborted === true;
  const call = { signal: o.signal };
  /** A model call's abort ends the generation normally; any other error propagates. */
  const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError' && aborted();

  const t0 = performance.now();
  const position0 = state.position;
  let logits: Float32Array | undefined;
  for (let at = 0; at < prompt.length; at += chunk) {
    if (aborted()) return summary;
    try {
      logits = await model.prefill(state, prompt.slice(at, at + chunk), call);
    } catch (e) {
      if (!isAbort(e)) throw e;
      summary.promptTokens = state.position - position0; // the prompt's chunks the model completed
      return summary;
    }
    summary.promptTokens += Math.min(chunk, prompt.length - at);
  }
  const t1 = performance.now();
  summary.prefillMs = t1 - t0;
  if (maxTokens === 0) {
    summary.finishReason = 'length';
    return summary;
  }
  try {
    for (;;) {
      const token = sampleToken(logits!, seen, o, random);
      summary.tokens.push(token);
      summary.pendingToken = token;
      seen.push(token);
      summary.decodeMs = performance.now() - t1;
      yield { token };
      if (eos.has(token)) {
        summary.finishReason = 'eos';
        return summary;
      }
      if (summary.tokens.length >= maxTokens) {
        summary.finishReason = 'length';
        return summary;
      }
      if (aborted()) return summary;
      try {
        logits = await model.step(state, token, call);
      } catch (e) {
        if (isAbort(e)) return summary; // the step did not run: `token` stays pending
        throw e;
      }
      summary.pendingToken = null;
      summary.steps++;
    }
  } finally {
    summary.decodeMs = performance.now() - t1;
  }
}

/** Options of {@link generate}: those of {@link generateIds}, plus text ones. */
export interface GenerateOptions extends GenerateIdsOptions {
  /**
   * Strings that end the generation. They are matched in the decoded text across token boundaries and are
   * not emitted: text that could still become a stop string is held back until it cannot.
   */
  stop?: readonly string[];
  /** Skip special tokens in the text (default true). */
  skipSpecialTokens?: boolean;
}

/** One generated token and the text it completed (often `""`: an incomplete character, held-back text). */
export interface TextEvent {
  /** The generated token id. */
  token: number;
  /** Text completed by this token (stop strings excluded, special tokens skipped by default). */
  text: string;
}

/** The length of the longest suffix of `text` that is a proper prefix of one of `stops`. */
export function stopHoldback(text: string, stops: readonly string[]): number {
  let best = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
      if (text.endsWith(s.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}

/** The earliest occurrence of any of `stops` in `text`: [index, stop], or null. */
export function findStop(text: string, stops: readonly string[]): [number, string] | null {
  let found: [number, string] | null = null;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (found === null || i < found[0])) found = [i, s];
  }
  return found;
}

/**
 * Generates text after a text prompt (encoded as is: a chat prompt must already be rendered by the template).
 * @returns a {@link Generation} of `{ token, text }`; the concatenated `text` is the output, stop string excluded
 */
export function generate(model: Model, tokenizer: Tokenizer, prompt: string, options: GenerateOptions = {}): Generation<TextEvent> {
  return new Generation<TextEvent>((publish) => runText(model, tokenizer, () => tokenizer.encode(prompt), options, publish));
}

/**
 * {@link generate} from prompt ids (e.g. a rendered chat already tokenized, or the new ids of a turn).
 * @returns a {@link Generation} of `{ token, text }`
 */
export function generateTextFromIds(model: Model, tokenizer: Tokenizer, promptIds: ArrayLike<number>, options: GenerateOptions = {}): Generation<TextEvent> {
  const ids = Array.from(promptIds);
  return new Generation<TextEvent>((publish) => runText(model, tokenizer, () => ids, options, publish));
}

async function* runText(
  model: Model,
  tokenizer: Tokenizer,
  promptIds: () => number[],
  o: GenerateOptions,
  publish: (s: GenerationSummary) => void,
): AsyncGenerator<TextEvent, GenerationSummary> {
  const stops = (o.stop ?? []).filter((s) => s.length > 0);
  const maxTokens = o.maxTokens ?? 256;
  const eos = new Set(o.eosTokenIds ?? []);
  const decoder = new StreamDecoder(tokenizer, { skipSpecialTokens: o.skipSpecialTokens ?? true });
  let summary: GenerationSummary | undefined;
  const inner = runIds(model, promptIds(), o, (s) => {
    summary = s;
    publish(s);
  });
  let held = ''; // decoded text not yet emitted: it could be the start of a stop string
  let count = 0;
  for await (const { token } of inner) {
    count++;
    const isEos = eos.has(token);
    const last = isEos || count >= maxTokens;
    if (!isEos) held += decoder.push(token);
    if (last) held += decoder.flush();
    const hit = findStop(held, stops);
    if (hit) {
      summary!.finishReason = 'stop';
      summary!.stopString = hit[1];
      yield { token, text: held.slice(0, hit[0]) };
      return summary!; // leaving the loop ends `inner` (its cleanup runs)
    }
    const keep = last ? 0 : stopHoldback(held, stops);
    const text = held.slice(0, held.length - keep);
    held = held.slice(held.length - keep);
    yield { token, text };
  }
  return summary!;
}
