/**
 * Pre-tokenizers: cut normalized text into pieces ("pre-tokens") that BPE then encodes one by one.
 *
 * HF `tokenizers` runs a pre-tokenizer (often a `Sequence` of them) over a `PreTokenizedString`; every stage
 * splits each current piece further. Here a pipeline is a flat list of {@link Stage}s with the same
 * semantics (src/pre_tokenizers/*.rs in HF). Falcon's pipeline is
 * `Punctuation(Contiguous) → ByteLevel(regex) → Digits(contiguous) → Split([0-9]{3}, Isolated)`.
 *
 * `ByteLevel` is split into two stages here, the regex split and the byte → stand-in character map, so
 * that the tokenizer can cache ids per regex piece (see `Tokenizer`): everything after that point is a
 * function of the piece alone.
 */
import { TokenizerError } from '../errors.ts';
import { toByteLevel } from './bytes.ts';
import { ONIG_LETTER, ONIG_NUMBER, RUST_NUMERIC, RUST_PUNCT } from './unicode-tables.ts';
import { ONIG_SPACE, compilePattern, onigToJs, parseBehavior, splitWith, type SplitBehavior } from './pattern.ts';

/** One step of a pre-tokenizer pipeline. */
export interface Stage {
  /** The HF component this stage comes from (for messages and docs). */
  readonly name: string;
  /** Split (or rewrite) one piece, appending the results to `out`. `atStart`: the piece begins the input text. */
  split(piece: string, out: string[], atStart: boolean): void;
  /** True when the stage's output no longer depends on `atStart`. */
  readonly contextFree: boolean;
  /** True when the stage cuts text into word-sized pieces (a good place to cache). */
  readonly splitsWords: boolean;
}

type Json = Record<string, unknown>;

/**
 * GPT-2's pre-tokenization regex (HF `byte_level.rs` `RE`):
 * `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, with Oniguruma's own `\s`,
 * `\p{L}` and `\p{N}` tables instead of V8's (see unicode-tables.ts).
 */
export const GPT2_PATTERN = `'s|'t|'re|'ve|'m|'ll|'d| ?[${ONIG_LETTER}]+| ?[${ONIG_NUMBER}]+| ?[^${ONIG_SPACE}${ONIG_LETTER}${ONIG_NUMBER}]+|[${ONIG_SPACE}]+(?![^${ONIG_SPACE}])|[${ONIG_SPACE}]+`;

/**
 * HF `is_punc`: ASCII punctuation (which in Rust includes `$+<=>^`|~`) or Unicode general category P* as the
 * `unicode_categories` crate knows it (an old Unicode version; the table is measured, see unicode-tables.ts).
 */
const PUNCT_SRC = `[${RUST_PUNCT}]`;

/** A fresh global regex per stage: a shared one would share `lastIndex`, i.e. module-level mutable state. */
const punctRegex = (): RegExp => new RegExp(PUNCT_SRC, 'gu');

function regexStage(name: string, re: RegExp, behavior: SplitBehavior, invert: boolean, splitsWords: boolean, where = name): Stage {
  return {
    name,
    contextFree: true,
    splitsWords,
    split(piece, out) {
      splitWith(piece, re, behavior, invert, out, where);
    },
  };
}

/**
 * HF types `Metaspace.replacement` and `CharDelimiterSplit.delimiter` as one `char`; holding them to that
 * also bounds the output (a long replacement for every space would multiply the text).
 */
function oneChar(v: unknown, fallback: string, where: string): string {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string' || [...v].length !== 1) throw new TokenizerError(`${where}: must be one character, got ${JSON.stringify(v)?.slice(0, 80)}`);
  return v;
}

function byteLevelStages(c: Json): Stage[] {
  const addPrefixSpace = c.add_prefix_space === true;
  const useRegex = c.use_regex !== false;
  const re = new RegExp(GPT2_PATTERN, 'gu');
  const stages: Stage[] = [];
  stages.push({
    name: 'ByteLevel(split)',
    contextFree: true,
    splitsWords: useRegex,
    split(piece, out) {
      // HF: `if add_prefix_space && !starts_with(' ') { prepend(" ") }`, for every piece, then the regex.
      if (addPrefixSpace && piece[0] !== ' ') piece = ' ' + piece;
      if (useRegex) splitWith(piece, re, 'Isolated', false, out, 'pre_tokenizer ByteLevel');
      else out.push(piece);
    },
  });
  stages.push({
    name: 'ByteLevel(map)',
    contextFree: true,
    splitsWords: false,
    split(piece, out) {
      out.push(toByteLevel(piece));
    },
  });
  return stages;
}

function metaspaceStage(c: Json, where: string): Stage {
  const replacement = oneChar(c.replacement, '\u2581', `${where}: Metaspace.replacement`);
  let scheme = typeof c.prepend_scheme === 'string' ? c.prepend_scheme : undefined;
  if (scheme === undefined) scheme = c.add_prefix_space === false ? 'never' : 'always';
  const doSplit = c.split !== false;
  const re = new RegExp(replacement.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu');
  return {
    name: 'Metaspace',
    contextFree: scheme !== 'first',
    splitsWords: doSplit,
    split(piece, out, atStart) {
      // HF `Metaspace::pre_tokenize`: spaces become the replacement, then maybe prepend it, then split
      // with MergedWithNext so each piece starts with its "▁".
      piece = piece.split(' ').join(replacement);
      if (!piece.startsWith(replacement) && (scheme === 'always' || (scheme === 'first' && atStart))) piece = replacement + piece;
      if (doSplit) splitWith(piece, re, 'MergedWithNext', false, out, `${where}: Metaspace`);
      else out.push(piece);
    },
  };
}

/**
 * Build the flat stage list of a tokenizer.json `pre_tokenizer` (nested `Sequence`s are flattened).
 * @throws TokenizerError naming an unsupported `type`.
 */
export function buildPreTokenizer(cfg: unknown, where = 'pre_tokenizer'): Stage[] {
  if (cfg === null || cfg === undefined) return [];
  const c = cfg as Json;
  switch (c.type) {
    case 'Sequence': {
      const list = c.pretokenizers;
      if (!Array.isArray(list)) throw new TokenizerError(`${where}: Sequence without a "pretokenizers" array`);
      return list.flatMap((p, i) => buildPreTokenizer(p, `${where}.pretokenizers[${i}]`));
    }
    case 'ByteLevel':
      return byteLevelStages(c);
    case 'Punctuation':
      return [regexStage('Punctuation', punctRegex(), parseBehavior(c.behavior ?? 'Isolated', where), false, false)];
    case 'Digits':
      // HF `Digits`: `char::is_numeric` (General Category N*), one piece per digit or per run.
      return [regexStage('Digits', new RegExp(`[${RUST_NUMERIC}]`, 'gu'), c.individual_digits === true ? 'Isolated' : 'Contiguous', false, false)];
    case 'Split':
      return [regexStage('Split', compilePattern(c.pattern, `${where}.Split`), parseBehavior(c.behavior, where), c.invert === true, true, `${where}: Split`)];
    case 'Whitespace':
      // HF `Whitespace`: keep the matches of `\w+|[^\w\s]+`, drop the rest.
      return [regexStage('Whitespace', new RegExp(onigToJs('\\w+|[^\\w\\s]+'), 'gu'), 'Removed', true, true)];
    case 'WhitespaceSplit':
      return [regexStage('WhitespaceSplit', new RegExp(`[${ONIG_SPACE}]`, 'gu'), 'Removed', false, true)];
    case 'BertPreTokenizer':
      return [
        regexStage('BertPreTokenizer', new RegExp(`[${ONIG_SPACE}]`, 'gu'), 'Removed', false, true),
        regexStage('BertPreTokenizer', punctRegex(), 'Isolated', false, false),
      ];
    case 'CharDelimiterSplit': {
      const d = oneChar(c.delimiter, ' ', `${where}: CharDelimiterSplit.delimiter`);
      return [regexStage('CharDelimiterSplit', new RegExp(d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu'), 'Removed', false, true)];
    }
    case 'Metaspace':
      return [metaspaceStage(c, where)];
    default:
      throw new TokenizerError(`${where}: unsupported pre_tokenizer type ${JSON.stringify(c.type)}`);
  }
}
