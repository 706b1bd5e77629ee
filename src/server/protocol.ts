/**
 * The OpenAI request bodies, validated into scheduler jobs. Field names and limits follow the OpenAI API
 * reference (platform.openai.com/docs/api-reference/chat and /completions); `top_k`, `min_p` and
 * `repetition_penalty` are the extensions vLLM and llama.cpp's server accept under the same names. A field
 * of the wrong type or out of range is a 400 naming it; unknown fields are ignored, as OpenAI's clients
 * send fields a server may not know.
 */
import type { SamplerOptions } from '../generate/sampler.ts';
import { renderChatTemplate, type ChatMessage } from '../tokenizer/chat.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { ApiError, badField } from './errors.ts';
import type { SequenceSpec } from './sequence.ts';

/** The tokenizer and chat template of the served model (a `TokenizerFiles` fits). */
export interface ServerTokenizer {
  /** Encodes prompts, decodes replies. */
  tokenizer: Tokenizer;
  /** The Jinja chat template (without one, chats use the plain "User: …" format, see `chatFallback`). */
  chatTemplate?: string;
  /** The template's `bos_token`. */
  bosToken?: string;
  /** The template's `eos_token`. */
  eosToken?: string;
  /** The id of `eos_token`, which also ends a completion. */
  eosTokenId?: number;
}

/** The server's defaults and limits that shape a request. */
export interface RequestDefaults {
  /** The model's sampling defaults (generation_config.json): used for fields a request leaves out. */
  sampler: SamplerOptions;
  /** Ids that end a completion (generation_config.json eos + the tokenizer's). */
  eosTokenIds: readonly number[];
  /** Ids that also end a chat reply (the template's end-of-turn token). */
  chatEosTokenIds: readonly number[];
  /** `max_tokens` when a chat request leaves it out. */
  chatMaxTokens: number;
  /** Largest `max_tokens` accepted. */
  maxTokensLimit: number;
  /** Longest prompt accepted, in tokens. */
  maxPromptTokens: number;
  /** Largest `n`. */
  maxChoices: number;
  /** The model's vocabulary size (token ids in prompts must be below it). */
  vocabSize: number;
  /** Render chats of a model without a template in the plain "User: …" format instead of refusing them. */
  chatFallback: boolean;
}

type Body = Record<string, unknown>;

function isObject(v: unknown): v is Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The parsed body: a JSON object, else 400. */
export function requireObject(body: unknown): Body {
  if (!isObject(body)) throw new ApiError(400, 'the request body must be a JSON object');
  return body;
}

function optNumber(b: Body, key: string, check: { min?: number; max?: number; integer?: boolean; minExclusive?: boolean } = {}): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badField(key, `'${key}' must be a number, got ${JSON.stringify(v)}`);
  if (check.integer && !Number.isInteger(v)) throw badField(key, `'${key}' must be an integer, got ${v}`);
  if (check.min !== undefined && (check.minExclusive ? v <= check.min : v < check.min)) throw badField(key, `'${key}' must be ${check.minExclusive ? '>' : '≥'} ${check.min}, got ${v}`);
  if (check.max !== undefined && v > check.max) throw badField(key, `'${key}' must be ≤ ${check.max}, got ${v}`);
  return v;
}

function optBoolean(b: Body, key: string): boolean | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badField(key, `'${key}' must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** The `model` field: absent, or the served model's id. */
export function checkModel(b: Body, ids: readonly string[]): void {
  const m = b.model;
  if (m === undefined || m === null) return;
  if (typeof m !== 'string') throw badField('model', `'model' must be a string, got ${JSON.stringify(m)}`);
  if (!ids.includes(m)) throw new ApiError(400, `the model '${m}' does not exist (this server serves ${ids.map((i) => `'${i}'`).join(', ')})`, 'model', 'invalid_request_error', 'model_not_found');
}

/** `stream` and `stream_options.include_usage`. */
export function streamFields(b: Body): { stream: boolean; includeUsage: boolean } {
  const stream = optBoolean(b, 'stream') ?? false;
  const so = b.stream_options;
  let includeUsage = false;
  if (so !== undefined && so !== null) {
    if (!isObject(so)) throw badField('stream_options', "'stream_options' must be an object");
    const u = so.include_usage;
    if (u !== undefined && u !== null && typeof u !== 'boolean') throw badField('stream_options.include_usage', "'stream_options.include_usage' must be true or false");
    includeUsage = u === true;
  }
  return { stream, includeUsage };
}

function stopField(b: Body): string[] {
  const s = b.stop;
  if (s === undefined || s === null) return [];
  if (typeof s === 'string') return s.length ? [s] : [];
  if (!Array.isArray(s) || s.some((x) => typeof x !== 'string')) throw badField('stop', "'stop' must be a string or an array of strings");
  if (s.length > 4) throw badField('stop', `'stop' takes at most 4 strings, got ${s.length}`);
  return (s as string[]).filter((x) => x.length > 0);
}

/** The sampling fields shared by both endpoints. */
function sequenceSpec(b: Body, d: RequestDefaults, maxTokens: number, eos: readonly number[], topLogprobs: number | null): SequenceSpec {
  const sampler: SamplerOptions = { ...d.sampler };
  const temperature = optNumber(b, 'temperature', { min: 0 });
  if (temperature !== undefined) {
    sampler.temperature = temperature;
    // A request that sets a temperature takes sampling into its own hands: the model's top-k default goes.
    if (temperature > 0 && b.top_k === undefined) delete sampler.topK;
  }
  const topP = optNumber(b, 'top_p', { min: 0, max: 1, minExclusive: true });
  if (topP !== undefined) sampler.topP = topP;
  const topK = optNumber(b, 'top_k', { integer: true, min: -1 });
  if (topK !== undefined) sampler.topK = topK < 0 ? 0 : topK; // vLLM: -1 = off
  const minP = optNumber(b, 'min_p', { min: 0, max: 1 });
  if (minP !== undefined) sampler.minP = minP;
  const rep = optNumber(b, 'repetition_penalty', { min: 0, minExclusive: true });
  if (rep !== undefined) sampler.repetitionPenalty = rep;
  return {
    maxTokens,
    sampler,
    frequencyPenalty: optNumber(b, 'frequency_penalty', { min: -2, max: 2 }) ?? 0,
    presencePenalty: optNumber(b, 'presence_penalty', { min: -2, max: 2 }) ?? 0,
    seed: optNumber(b, 'seed', { integer: true }),
    stop: stopField(b),
    eosTokenIds: new Set(eos),
    topLogprobs,
  };
}

function maxTokensField(b: Body, d: RequestDefaults, fallback: number): number {
  const a = optNumber(b, 'max_completion_tokens', { integer: true, min: 0, max: d.maxTokensLimit });
  const c = optNumber(b, 'max_tokens', { integer: true, min: 0, max: d.maxTokensLimit });
  return a ?? c ?? Math.min(fallback, d.maxTokensLimit);
}

function nField(b: Body, d: RequestDefaults): number {
  return optNumber(b, 'n', { integer: true, min: 1, max: d.maxChoices }) ?? 1;
}

function checkPromptLength(n: number, d: RequestDefaults, param: string): void {
  if (n === 0) throw badField(param, `'${param}' has no tokens`);
  if (n > d.maxPromptTokens) throw badField(param, `the prompt is ${n} tokens, more than this server's limit of ${d.maxPromptTokens} (--max-prompt-tokens)`);
}

/** A chat request, parsed. */
export interface ChatRequest {
  promptIds: number[];
  /** Token counts at the end of each message (snapshot points). */
  boundaries: number[];
  /** The ids of the history with the reply appended as the next message (for the next turn's snapshot). */
  after: (replyText: string) => number[] | null;
  n: number;
  stream: boolean;
  includeUsage: boolean;
  logprobs: boolean;
  spec: SequenceSpec;
}

function messagesField(b: Body): ChatMessage[] {
  const m = b.messages;
  if (!Array.isArray(m) || m.length === 0) throw badField('messages', "'messages' must be a non-empty array of {role, content}");
  return m.map((x, i) => {
    if (!isObject(x)) throw badField(`messages[${i}]`, `'messages[${i}]' must be an object`);
    if (typeof x.role !== 'string') throw badField(`messages[${i}].role`, `'messages[${i}].role' must be a string`);
    let content = x.content;
    if (content === null || content === undefined) content = '';
    if (Array.isArray(content)) {
      // The content-parts form: only text parts can be read by a text model.
      content = content.map((p, j) => {
        if (!isObject(p) || p.type !== 'text' || typeof p.text !== 'string') {
          throw badField(`messages[${i}].content[${j}]`, `'messages[${i}].content[${j}]' must be a {type: "text", text} part (this model reads text only)`);
        }
        return p.text;
      }).join('');
    }
    if (typeof content !== 'string') throw badField(`messages[${i}].content`, `'messages[${i}].content' must be a string or an array of text parts`);
    return { ...x, role: x.role, content } as ChatMessage;
  });
}

/** A chat encoded message by message: its ids, the boundaries (ids after each message) and its rendered text. */
export interface EncodedChat {
  /** The prompt's ids. */
  ids: number[];
  /** Token counts at the end of each message whose rendering extends the previous one (snapshot points). */
  boundaries: number[];
  /** The whole rendering, with the generation prompt. */
  text: string;
}

interface PrefixEntry {
  /** The JSON of the messages of this prefix, to check a hash hit. */
  json: string;
  /** The rendering up to the last boundary, its ids and the boundaries. */
  done: string;
  ids: number[];
  boundaries: number[];
}

function fnv(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Renders chats and encodes them message by message: the rendering of the first k messages is a prefix of the
 * whole one for the usual templates, so each message's new text is encoded on its own and its end is a boundary
 * (a snapshot point) whose ids do not depend on what follows. Where a template rewrites earlier text (the prefix
 * test fails), the boundaries stop and the rest is encoded in one piece.
 *
 * Rendering every prefix of a long history on each request costs O(messages²); the encoder remembers the
 * prefixes it has encoded (an LRU of `capacity`), so a conversation's next turn renders only its new messages
 * (and the whole chat once, for the generation prompt).
 */
export class ChatEncoder {
  private readonly prefixes = new Map<string, PrefixEntry>();

  constructor(
    private readonly t: ServerTokenizer,
    private readonly fallback: boolean,
    private readonly capacity = 256,
  ) {}

  private render(m: readonly ChatMessage[], gen: boolean): string {
    return renderChatTemplate(this.t.chatTemplate, m, { addGenerationPrompt: gen, bosToken: this.t.bosToken, eosToken: this.t.eosToken, fallback: this.fallback });
  }

  /** Encodes `messages` with the generation prompt. */
  encode(messages: readonly ChatMessage[]): EncodedChat {
    const full = this.render(messages, true);
    const jsons = messages.map((m) => JSON.stringify(m));
    const keys: string[] = [];
    let h = 0x811c9dc5;
    let json = '';
    for (let k = 0; k < messages.length; k++) {
      h = fnv(h, jsons[k] + '\u0000');
      keys.push(`${k + 1}:${h.toString(16)}`);
    }
    let from = 0;
    let done = '';
    let ids: number[] = [];
    let boundaries: number[] = [];
    for (let k = messages.length; k >= 1; k--) {
      const e = this.prefixes.get(keys[k - 1]);
      if (e && e.json === jsons.slice(0, k).join('\u0000') && full.startsWith(e.done)) {
        this.prefixes.delete(keys[k - 1]);
        this.prefixes.set(keys[k - 1], e);
        [from, done, ids, boundaries] = [k, e.done, [...e.ids], [...e.boundaries]];
        break;
      }
    }
    json = jsons.slice(0, from).join('\u0000');
    for (let k = from + 1; k <= messages.length; k++) {
      json += (k > 1 ? '\u0000' : '') + jsons[k - 1];
      let r: string | null;
      try {
        r = this.render(messages.slice(0, k), false);
      } catch {
        r = null; // a template that refuses a partial history (e.g. one that must end with a user turn)
      }
      if (r !== null && r.startsWith(done) && full.startsWith(r) && r.length > done.length) {
        ids.push(...this.t.tokenizer.encode(r.slice(done.length)));
        boundaries.push(ids.length);
        done = r;
      }
      this.remember(keys[k - 1], { json, done, ids: [...ids], boundaries: [...boundaries] });
    }
    ids.push(...this.t.tokenizer.encode(full.slice(done.length)));
    return { ids, boundaries, text: full };
  }

  private remember(key: string, e: PrefixEntry): void {
    this.prefixes.delete(key);
    this.prefixes.set(key, e);
    if (this.prefixes.size > this.capacity) this.prefixes.delete(this.prefixes.keys().next().value!);
  }
}

/** {@link ChatEncoder.encode} without memory (one request). */
export function encodeChat(t: ServerTokenizer, messages: readonly ChatMessage[], fallback: boolean): EncodedChat {
  return new ChatEncoder(t, fallback, 0).encode(messages);
}

/** Validates a POST /v1/chat/completions body. */
export function parseChat(body: unknown, encoder: ChatEncoder, d: RequestDefaults, modelIds: readonly string[]): ChatRequest {
  const b = requireObject(body);
  checkModel(b, modelIds);
  const messages = messagesField(b);
  const { stream, includeUsage } = streamFields(b);
  if (Array.isArray(b.tools) && b.tools.length > 0) throw badField('tools', "'tools' is not supported by this server");
  if (b.response_format !== undefined && b.response_format !== null) {
    if (!isObject(b.response_format) || b.response_format.type !== 'text') throw badField('response_format', "only response_format {type: 'text'} is supported");
  }
  const logprobs = optBoolean(b, 'logprobs') ?? false;
  const top = optNumber(b, 'top_logprobs', { integer: true, min: 0, max: 20 });
  if (top !== undefined && !logprobs) throw badField('top_logprobs', "'top_logprobs' needs 'logprobs': true");
  const maxTokens = maxTokensField(b, d, d.chatMaxTokens);
  const n = nField(b, d);
  const spec = sequenceSpec(b, d, maxTokens, [...d.eosTokenIds, ...d.chatEosTokenIds], logprobs ? (top ?? 0) : null);
  let encoded: EncodedChat;
  try {
    encoded = encoder.encode(messages);
  } catch (e) {
    throw badField('messages', `the chat template cannot render these messages: ${(e as Error).message}`);
  }
  checkPromptLength(encoded.ids.length, d, 'messages');
  const after = (replyText: string): number[] | null => {
    try {
      const next = encoder.encode([...messages, { role: 'assistant', content: replyText }]);
      const last = next.boundaries[next.boundaries.length - 1];
      return last !== undefined && next.boundaries.length > encoded.boundaries.length ? next.ids.slice(0, last) : null;
    } catch {
      return null;
    }
  };
  return { promptIds: encoded.ids, boundaries: encoded.boundaries, after, n, stream, includeUsage, logprobs, spec };
}

/** A completions request, parsed: one job per prompt. */
export interface CompletionRequest {
  prompts: number[][];
  n: number;
  stream: boolean;
  includeUsage: boolean;
  echo: boolean;
  /** Top log-probs per token (0–5), or null. */
  logprobs: number | null;
  spec: SequenceSpec;
}

function promptsField(b: Body, t: ServerTokenizer, d: RequestDefaults): number[][] {
  const p = b.prompt;
  const ids = (x: unknown[], param: string): number[] => {
    x.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= d.vocabSize) {
        throw badField(param, `'${param}[${i}]' must be a token id in [0, ${d.vocabSize}), got ${JSON.stringify(v)}`);
      }
    });
    return x as number[];
  };
  let out: number[][];
  if (typeof p === 'string') out = [t.tokenizer.encode(p)];
  else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === 'string')) out = (p as string[]).map((s) => t.tokenizer.encode(s));
  else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === 'number')) out = [ids(p, 'prompt')];
  else if (Array.isArray(p) && p.length > 0 && p.every((x) => Array.isArray(x))) out = (p as unknown[][]).map((x, i) => ids(x, `prompt[${i}]`));
  else throw badField('prompt', "'prompt' must be a string, an array of strings, an array of token ids or an array of such arrays");
  if (out.length > 64) throw badField('prompt', `at most 64 prompts per request, got ${out.length}`);
  out.forEach((x) => checkPromptLength(x.length, d, 'prompt'));
  return out;
}

/** Validates a POST /v1/completions body. */
export function parseCompletion(body: unknown, t: ServerTokenizer, d: RequestDefaults, modelIds: readonly string[]): CompletionRequest {
  const b = requireObject(body);
  checkModel(b, modelIds);
  const { stream, includeUsage } = streamFields(b);
  const echo = optBoolean(b, 'echo') ?? false;
  const logprobs = optNumber(b, 'logprobs', { integer: true, min: 0, max: 20 }) ?? null;
  if (b.suffix !== undefined && b.suffix !== null) throw badField('suffix', "'suffix' is not supported by this model");
  const n = nField(b, d);
  const bestOf = optNumber(b, 'best_of', { integer: true, min: 1 });
  if (bestOf !== undefined && bestOf !== n) throw badField('best_of', "'best_of' other than 'n' is not supported");
  // OpenAI's default for /v1/completions is 16 tokens.
  const maxTokens = maxTokensField(b, d, 16);
  const spec = sequenceSpec(b, d, maxTokens, d.eosTokenIds, logprobs);
  const prompts = promptsField(b, t, d);
  if (stream && echo && logprobs !== null) throw badField('echo', "'echo' with 'logprobs' is supported without 'stream' only");
  return { prompts, n, stream, includeUsage, echo, logprobs, spec };
}

/** End-of-turn markers that chat templates write after each message (ChatML, Llama 3, Phi, Gemma). */
const END_OF_TURN = ['<|im_end|>', '<|eot_id|>', '<|end|>', '<end_of_turn>'];

/**
 * The template's end-of-turn ids: a chat reply also ends there (a base model's generation_config lists only
 * `<|endoftext|>` and would otherwise write the next user turn itself), when the template writes the token
 * and the tokenizer has it as a special token.
 */
export function endOfTurnIds(t: ServerTokenizer): number[] {
  const ids: number[] = [];
  for (const s of END_OF_TURN) {
    const id = t.tokenizer.tokenToId(s);
    if (id !== undefined && t.chatTemplate?.includes(s) && t.tokenizer.specialIds.has(id)) ids.push(id);
  }
  return ids;
}
