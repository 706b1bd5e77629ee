/**
 * `Tokenizer`: a Hugging Face `tokenizer.json` (byte-level BPE family) → encode / decode, with the same ids as
 * Rust `tokenizers` (the engine behind Python `transformers`).
 *
 * The pipeline of `Tokenizer::encode` in HF (src/tokenizer/mod.rs), step by step:
 * 1. lone UTF-16 surrogates become U+FFFD (see {@link Tokenizer.encode} for why);
 * 2. added tokens are cut out (`added.ts`), the text between them is normalized (`normalizers.ts`);
 * 3. the pre-tokenizer cuts each text segment into pre-tokens (`pretokenizers.ts`);
 * 4. the model (BPE, `bpe.ts`) turns each pre-token into ids;
 * 5. the post-processor (`postprocessors.ts`) may add special tokens, only when asked.
 *
 * Speed: ids are cached per word-sized piece (bounded, per instance). For Falcon the cache key is a piece of
 * the GPT-2 regex split, before the byte map, `Digits` and `Split`, since what follows is a function of the
 * piece alone; a cache hit skips all of it.
 */
import { TokenizerError } from '../errors.ts';
import { readTextFile } from '../io/files.ts';
import { AddedVocabulary, assignAddedIds, parseAddedTokens, type AddedToken, type Segment } from './added.ts';
import { BpeModel } from './bpe.ts';
import { byteLevelTokenBytes, replaceLoneSurrogates } from './bytes.ts';
import { buildDecoder, type Decoder } from './decoders.ts';
import { buildNormalizer, type Normalizer } from './normalizers.ts';
import { buildPostProcessor, type PostProcessor } from './postprocessors.ts';
import { buildPreTokenizer, type Stage } from './pretokenizers.ts';

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /**
   * Run the post-processor (add BOS/EOS etc. as the tokenizer.json says). Default `false`: the caller (or the
   * chat template) decides about special tokens. Falcon's post-processor is null, so this changes nothing there.
   */
  addSpecialTokens?: boolean;
}

/** Options of {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Leave out added tokens marked `special` (HF `skip_special_tokens`). Default `false`. */
  skipSpecialTokens?: boolean;
}

/** Options of the constructors. */
export interface TokenizerOptions {
  /** Most pre-tokens kept in the encode cache (default 65,536); 0 disables caching. */
  cacheSize?: number;
}

/** Largest tokenizer.json read (the largest in use, Gemma's, is ~35 MB). */
export const MAX_TOKENIZER_BYTES = 256 << 20;

/**
 * Deepest nesting of objects and arrays accepted in a tokenizer.json: HF reads it with serde_json, whose
 * recursion limit is 128, so a deeper file fails there too; here it would overflow the stack of the builders.
 */
export const MAX_JSON_DEPTH = 128;

/** The nesting depth of a parsed JSON value, without recursion (so a 50,000-deep file is measured safely). */
export function jsonDepth(v: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d + 1 > max) max = d + 1;
    if (max > limit) return max;
    for (const y of Array.isArray(x) ? x : Object.values(x)) if (y !== null && typeof y === 'object') stack.push([y, d + 1]);
  }
  return max;
}

/** Pieces longer than this are not cached (HF's BPE cache skips words over 256 bytes, too). */
const MAX_CACHED_PIECE = 256;

type Json = Record<string, unknown>;

/** A loaded tokenizer. Immutable apart from its private encode cache; safe to share. */
export class Tokenizer {
  /** Where the tokenizer came from (a path, or a label), for messages. */
  readonly source: string;
  private readonly model: BpeModel;
  private readonly added: AddedVocabulary;
  private readonly normalizer: Normalizer | null;
  private readonly stages: Stage[];
  /** Stages [0, cacheAt) run on whole segments; the cache is keyed by their output pieces. */
  private readonly cacheAt: number;
  private readonly decoder: Decoder;
  private readonly postProcessor: PostProcessor | null;
  private readonly cache = new Map<string, number[]>();
  private readonly cacheSize: number;
  private readonly encoder = new TextEncoder();
  /** Ids of added tokens marked special. */
  readonly specialIds: ReadonlySet<number>;
  private readonly idSpace: number;

  private constructor(json: Json, source: string, options: TokenizerOptions) {
    this.source = source;
    const where = (k: string): string => `${source}: ${k}`;
    const modelCfg = json.model as Json | undefined;
    if (!modelCfg || typeof modelCfg !== 'object') throw new TokenizerError(`${source}: no "model" object`);
    const type = modelCfg.type ?? (modelCfg.merges !== undefined ? 'BPE' : undefined);
    if (type !== 'BPE') throw new TokenizerError(`${source}: unsupported model type ${JSON.stringify(type)} (only BPE)`);
    try {
      this.model = new BpeModel(modelCfg);
      this.normalizer = buildNormalizer(json.normalizer, where('normalizer'));
      this.stages = buildPreTokenizer(json.pre_tokenizer, where('pre_tokenizer'));
      this.decoder = buildDecoder(json.decoder, where('decoder'));
      this.postProcessor = buildPostProcessor(json.post_processor, where('post_processor'));
      this.added = new AddedVocabulary(assignAddedIds(parseAddedTokens(json.added_tokens), this.model.vocab, this.model.vocab.size), this.normalizer);
    } catch (e) {
      if (e instanceof TokenizerError && !e.message.startsWith(source)) throw new TokenizerError(`${source}: ${e.message}`);
      throw e;
    }
    // Cache after the first word-splitting stage that is followed only by context-free stages, so a hit
    // skips as much work as possible; with no such stage, cache the final pieces.
    let cacheAt = this.stages.length;
    for (let i = this.stages.length - 1; i >= 0; i--) {
      if (this.stages[i].splitsWords) cacheAt = i + 1;
      if (!this.stages[i].contextFree) break;
    }
    this.cacheAt = cacheAt;
    this.cacheSize = options.cacheSize ?? 65536;
    this.specialIds = new Set(this.added.tokens.filter((t) => t.special).map((t) => t.id));
    let space = this.model.size;
    for (const t of this.added.tokens) space = Math.max(space, t.id + 1);
    this.idSpace = space;
  }

  /**
   * Build a tokenizer from the parsed (or raw) contents of a tokenizer.json.
   * @param json the object, or its JSON text
   * @param source a label for error messages (e.g. the path)
   * @throws TokenizerError on bad JSON or an unsupported component (the message names its `type`)
   */
  static fromJSON(json: unknown, source = 'tokenizer.json', options: TokenizerOptions = {}): Tokenizer {
    let obj = json;
    if (typeof json === 'string') {
      try {
        obj = JSON.parse(json);
      } catch (e) {
        throw new TokenizerError(`${source}: not valid JSON: ${(e as Error).message}`);
      }
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new TokenizerError(`${source}: expected a JSON object`);
    if (jsonDepth(obj, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw new TokenizerError(`${source}: nested deeper than ${MAX_JSON_DEPTH} levels (the limit of HF's own reader)`);
    return new Tokenizer(obj as Json, source, options);
  }

  /**
   * Read and build a tokenizer.json file.
   * @throws TokenizerError when the file cannot be read or used
   */
  static async fromFile(path: string, options: TokenizerOptions = {}): Promise<Tokenizer> {
    const text = (await readTextFile(path, TokenizerError, { maxBytes: MAX_TOKENIZER_BYTES, what: 'tokenizer file' }))!;
    return Tokenizer.fromJSON(text, path, options);
  }

  /** Size of the id space: one more than the largest id of the model or the added tokens (65,024 for Falcon). */
  get vocabSize(): number {
    return this.idSpace;
  }

  /** The added tokens, as read from tokenizer.json. */
  get addedTokens(): readonly AddedToken[] {
    return this.added.tokens;
  }

  /** The token string of an id (added tokens first, as HF), or `undefined`. */
  idToToken(id: number): string | undefined {
    return this.added.byId.get(id)?.content ?? this.model.tokens[id];
  }

  /** The id of a token string (added tokens first, as HF), or `undefined`. */
  tokenToId(token: string): number | undefined {
    return this.added.byContent.get(token) ?? this.model.vocab.get(token);
  }

  /**
   * Text → ids, identical to Rust `tokenizers` `encode(text, add_special_tokens)`.
   *
   * Lone surrogates: a JS string may hold them, a Rust `String` cannot. Python `tokenizers` refuses such a
   * string (PyO3 raises `UnicodeEncodeError: surrogates not allowed`); Node's N-API (thus the Rust binding)
   * and `TextEncoder` replace each by U+FFFD. We replace too (throwing would make streaming text from an LLM
   * fragile), so we agree with the binding and with Python on every string Python accepts.
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TokenizerError(`${this.source}: encode expects a string, got ${typeof text}`);
    text = replaceLoneSurrogates(text);
    const segments: Segment[] = this.added.extractAndNormalize(text, this.normalizer);
    const ids: number[] = [];
    for (let s = 0; s < segments.length; s++) {
      const seg = segments[s];
      if (seg.text === undefined) ids.push(seg.id);
      else this.encodeText(seg.text, s === 0, ids);
    }
    if (options.addSpecialTokens && this.postProcessor) return this.postProcessor(ids);
    return ids;
  }

  /** Pre-tokenize and BPE-encode one normalized text segment (no added tokens inside). */
  private encodeText(text: string, atStart: boolean, out: number[]): void {
    let pieces = [text];
    for (let k = 0; k < this.cacheAt; k++) pieces = this.runStage(k, pieces, atStart);
    for (const piece of pieces) {
      const cacheable = this.cacheSize > 0 && piece.length <= MAX_CACHED_PIECE;
      if (cacheable) {
        const hit = this.cache.get(piece);
        if (hit !== undefined) {
          for (let i = 0; i < hit.length; i++) out.push(hit[i]);
          continue;
        }
      }
      let sub = [piece];
      for (let k = this.cacheAt; k < this.stages.length; k++) sub = this.runStage(k, sub, false);
      const ids: number[] = [];
      for (const w of sub) this.model.encodeWord(w, ids);
      if (cacheable) {
        // Bounded: when full, start over (cheaper than LRU bookkeeping; the hot words come back at once).
        if (this.cache.size >= this.cacheSize) this.cache.clear();
        this.cache.set(piece, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
  }

  private runStage(k: number, pieces: string[], atStart: boolean): string[] {
    const stage = this.stages[k];
    const out: string[] = [];
    for (let i = 0; i < pieces.length; i++) stage.split(pieces[i], out, atStart && i === 0);
    return out;
  }

  /** The token strings of `ids`, checked; `null` for ids skipped as special. */
  private tokensOf(ids: ArrayLike<number>, skipSpecial: boolean): string[] {
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const tok = this.idToToken(id);
      if (tok === undefined) throw new TokenizerError(`${this.source}: unknown token id ${id} (at position ${i}; vocabulary size ${this.vocabSize})`);
      if (skipSpecial && this.specialIds.has(id)) continue;
      tokens.push(tok);
    }
    return tokens;
  }

  /**
   * Ids → text, identical to Rust `tokenizers` `decode(ids, skip_special_tokens)`: token strings (added tokens
   * first), optionally without the special ones, through the decoder. Invalid UTF-8 from partial byte-level
   * tokens becomes U+FFFD (Rust `from_utf8_lossy`).
   * @throws TokenizerError naming an id that is in neither the vocabulary nor the added tokens (HF would
   *   silently skip it; a wrong id is a bug worth hearing about)
   */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const tokens = this.tokensOf(ids, options.skipSpecialTokens === true);
    return this.decoder.chain(tokens).join('');
  }

  /**
   * For {@link StreamDecoder}: the bytes of one id under a pure ByteLevel decoder, or `null` when the decoder is
   * not ByteLevel (then text must come from {@link decode}). Empty for a skipped special token.
   * @throws TokenizerError on an unknown id
   */
  tokenBytes(id: number, skipSpecialTokens: boolean): Uint8Array | null {
    if (!this.decoder.byteLevel) return null;
    const tokens = this.tokensOf([id], skipSpecialTokens);
    return tokens.length === 0 ? new Uint8Array(0) : byteLevelTokenBytes(tokens[0], this.encoder);
  }
}
