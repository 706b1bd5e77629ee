/**
 * Added tokens (HF `tokenizers` src/tokenizer/added_vocabulary.rs): strings such as `<|endoftext|>` that are
 * cut out of the text *before* normalization and pre-tokenization and map straight to one id.
 *
 * Matching is leftmost-longest over all token contents (HF uses an Aho-Corasick automaton with
 * `MatchKind::LeftmostLongest`; a JS regex alternation of the escaped contents, longest first, finds the same
 * matches). Then, per token flags, as HF's `find_matches`:
 * - `single_word`: the match is dropped when a word character (`\w`, Unicode) touches it on either side;
 * - `lstrip` / `rstrip`: whitespace (`\s`, Unicode) to the left / right is swallowed into the token;
 * - `normalized`: the token is matched against the normalized text (its content normalized too) instead of
 *   the raw text.
 */
import { TokenizerError } from '../errors.ts';
import { ONIG_SPACE, RUST_WORD, escapeRegex } from './pattern.ts';
import type { Normalizer } from './normalizers.ts';

/** One entry of tokenizer.json `added_tokens`. */
export interface AddedToken {
  /** The token's id. */
  id: number;
  /** The exact text the token stands for. */
  content: string;
  /** A special token (skipped by `decode` with `skipSpecialTokens`). */
  special: boolean;
  /** `single_word`: match only where no word character touches it. */
  singleWord: boolean;
  /** `lstrip`: the match swallows whitespace on its left. */
  lstrip: boolean;
  /** `rstrip`: the match swallows whitespace on its right. */
  rstrip: boolean;
  /** `normalized`: matched against the normalized text instead of the raw text. */
  normalized: boolean;
}

/** A piece of text after added-token extraction: plain text, or one added token's id. */
export type Segment = { text: string; id?: undefined } | { text?: undefined; id: number };

/** Parse tokenizer.json `added_tokens`. */
export function parseAddedTokens(list: unknown): AddedToken[] {
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list)) throw new TokenizerError('added_tokens must be an array');
  return list.map((t, i) => {
    const o = t as Record<string, unknown>;
    if (typeof o?.content !== 'string' || typeof o.id !== 'number' || !Number.isInteger(o.id) || o.id < 0) {
      throw new TokenizerError(`added_tokens[${i}]: needs an integer "id" and a string "content", got ${JSON.stringify(t)}`);
    }
    const special = o.special === true;
    return {
      id: o.id,
      content: o.content,
      special,
      singleWord: o.single_word === true,
      lstrip: o.lstrip === true,
      rstrip: o.rstrip === true,
      // HF's AddedToken default: normalized = !special.
      normalized: typeof o.normalized === 'boolean' ? o.normalized : !special,
    };
  });
}

/**
 * Give each added token the id HF gives it, which is not always the `id` written in the file: HF
 * (`AddedVocabulary::add_tokens`, called when a tokenizer.json is loaded) uses the id of the same content if it
 * is already an added token or in the model's vocabulary, and otherwise the next id after both
 * (`vocab.len()`, or the largest added id + 1). For consistent files (Falcon's, GPT-NeoX's) nothing changes.
 * @param vocab the model vocabulary; `vocabLen` is its number of entries (HF `get_vocab_size`)
 */
export function assignAddedIds(tokens: AddedToken[], vocab: ReadonlyMap<string, number>, vocabLen: number): AddedToken[] {
  const byContent = new Map<string, number>();
  let maxId = -1;
  const out: AddedToken[] = [];
  for (const t of tokens) {
    if (t.content.length === 0) continue;
    if (byContent.has(t.content)) continue; // HF keeps the first definition
    let id = vocab.get(t.content);
    if (id === undefined) id = maxId < 0 ? vocabLen : maxId >= vocabLen || vocabLen === 0 ? maxId + 1 : vocabLen;
    byContent.set(t.content, id);
    maxId = Math.max(maxId, id);
    out.push({ ...t, id });
  }
  return out;
}

/** The code point (as a string) that ends at `i`. */
function charBefore(s: string, i: number): string {
  const lo = s.charCodeAt(i - 1);
  return lo >= 0xdc00 && lo <= 0xdfff && i >= 2 && (s.charCodeAt(i - 2) & 0xfc00) === 0xd800 ? s.slice(i - 2, i) : s[i - 1];
}

/** The code point (as a string) that starts at `i`. */
function charAt(s: string, i: number): string {
  return String.fromCodePoint(s.codePointAt(i)!);
}

/** A matcher for one set of added tokens (the raw-text set or the normalized-text set). */
class Matcher {
  private readonly re: RegExp | null;
  private readonly byContent: Map<string, AddedToken>;
  // Tests of one character. The neighbours of a match are looked at character by character: a regex such as
  // `\s*$` over the text before each match would rescan it each time (quadratic: 66 s for 760 KB).
  private readonly word = new RegExp(`^[${RUST_WORD}]$`, 'u');
  private readonly space = new RegExp(`^[${ONIG_SPACE}]$`, 'u');

  constructor(tokens: { pattern: string; token: AddedToken }[]) {
    this.byContent = new Map();
    for (const t of tokens) if (t.pattern.length > 0 && !this.byContent.has(t.pattern)) this.byContent.set(t.pattern, t.token);
    const patterns = [...this.byContent.keys()].sort((a, b) => b.length - a.length);
    this.re = patterns.length > 0 ? new RegExp(patterns.map(escapeRegex).join('|'), 'gu') : null;
  }

  /** Split `s` into text and added-token segments, appending to `out` (HF `AddedVocabulary::find_matches`). */
  split(s: string, out: Segment[]): void {
    if (this.re === null || s.length === 0) {
      if (s.length > 0) out.push({ text: s });
      return;
    }
    const re = this.re;
    re.lastIndex = 0;
    let startOffset = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      let start = m.index;
      let stop = start + m[0].length;
      const tok = this.byContent.get(m[0])!;
      if (tok.singleWord) {
        const startSpace = start === 0 || !this.word.test(charBefore(s, start));
        const stopSpace = stop === s.length || !this.word.test(charAt(s, stop));
        if (!startSpace || !stopSpace) continue;
      }
      if (tok.lstrip) {
        // Whitespace to the left, but never into the previous match (HF: `max(new_start, start_offset)`).
        while (start > startOffset && this.space.test(charBefore(s, start))) start -= charBefore(s, start).length;
      }
      if (tok.rstrip) while (stop < s.length && this.space.test(charAt(s, stop))) stop += charAt(s, stop).length;
      if (startOffset < start) out.push({ text: s.slice(startOffset, start) });
      out.push({ id: tok.id });
      startOffset = stop;
    }
    if (startOffset < s.length) out.push({ text: s.slice(startOffset) });
  }
}

/** The added vocabulary of a tokenizer: both matchers and the id ↔ content maps. */
export class AddedVocabulary {
  readonly tokens: readonly AddedToken[];
  /** id → added token */
  readonly byId: ReadonlyMap<number, AddedToken>;
  /** content → id */
  readonly byContent: ReadonlyMap<string, number>;
  private readonly raw: Matcher;
  private readonly normalizedMatcher: Matcher;

  /**
   * @param tokens parsed `added_tokens`
   * @param normalizer the tokenizer's normalizer; `normalized` tokens are matched in normalized form
   */
  constructor(tokens: AddedToken[], normalizer: Normalizer | null) {
    this.tokens = tokens;
    const byId = new Map<number, AddedToken>();
    const byContent = new Map<string, number>();
    for (const t of tokens) {
      byId.set(t.id, t);
      byContent.set(t.content, t.id);
    }
    this.byId = byId;
    this.byContent = byContent;
    this.raw = new Matcher(tokens.filter((t) => !t.normalized).map((t) => ({ pattern: t.content, token: t })));
    this.normalizedMatcher = new Matcher(
      tokens.filter((t) => t.normalized).map((t) => ({ pattern: normalizer ? normalizer(t.content) : t.content, token: t })),
    );
  }

  /**
   * HF `AddedVocabulary::extract_and_normalize`: cut non-normalized tokens out of the raw text, normalize the
   * text between them, then cut the normalized tokens out of that.
   */
  extractAndNormalize(text: string, normalizer: Normalizer | null): Segment[] {
    const first: Segment[] = [];
    this.raw.split(text, first);
    const out: Segment[] = [];
    for (const seg of first) {
      if (seg.text === undefined) out.push(seg);
      else this.normalizedMatcher.split(normalizer ? normalizer(seg.text) : seg.text, out);
    }
    return out;
  }
}
