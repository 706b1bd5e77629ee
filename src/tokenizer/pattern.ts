/**
 * Patterns and split behaviours shared by the `Split`-style pre-tokenizers and the `Replace` normalizer.
 *
 * HF `tokenizers` compiles regexes with Oniguruma; JS has its own engine. The syntax of the patterns found in
 * real tokenizer.json files is nearly the same, but a few classes differ in meaning, so {@link onigToJs}
 * rewrites them: `\s` (Oniguruma: Unicode White_Space, which has U+0085 but not U+FEFF, unlike JS),
 * `\w` (Unicode word characters, not ASCII), `(?i:...)` groups (JS before ES2025 lacks inline modifiers) and
 * possessive quantifiers (`++`, `*+`, `?+`; JS lacks them, they become greedy, which agrees on the patterns seen),
 * and `\p{L}` / `\p{N}`, which become Oniguruma's own (older) tables from `unicode-tables.ts`.
 *
 * Patterns come from a model folder, so they are untrusted. V8's regex engine backtracks and cannot be
 * interrupted, so a pattern that backtracks exponentially (`(a+)+$`) would hang the process. Like the ReDoS
 * linters (safe-regex's star height, eslint's no-unsafe-regex), {@link onigToJs} refuses the constructs that
 * cause it: a repeated group that itself holds a repetition or an alternation (`(a+)+`, `(a|ab)*`). No
 * tokenizer pattern in use needs them (GPT-2, Llama 3, Qwen 2, Falcon, DeepSeek and GPT-4o repeat only
 * classes, and only quantify groups with `?`). We chose this over the alternatives: a linear-time engine
 * (RE2) cannot run the lookaheads of the GPT-2 family (`\s+(?!\S)`), and cutting the text into bounded
 * windows would change where pieces end. A run too long for V8's backtracking stack (over ~4 M characters of
 * one class) is a TokenizerError, see {@link execChecked}.
 */
import { TokenizerError } from '../errors.ts';
import { ONIG_LETTER, ONIG_NUMBER } from './unicode-tables.ts';

/** Oniguruma's Unicode `\s` (the White_Space property), as the inside of a JS character class. */
export const ONIG_SPACE = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Oniguruma's Unicode `\w` (letters, marks, numbers, connector punctuation), as the inside of a JS class. */
export const ONIG_WORD = ONIG_LETTER + ONIG_NUMBER + '\\p{M}\\p{Pc}';
/** The Rust `regex` crate's `\w` (UTS#18: Alphabetic, M, Nd, Pc, Join_Control), used by HF for added tokens. */
export const RUST_WORD = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\u200c\\u200d';

/** Longest JS source a pattern may translate to (`\w` becomes a ~3,000-character class; real ones are ~10 KB). */
export const MAX_PATTERN_SOURCE = 1 << 20;

/** One open group of {@link onigToJs}'s ReDoS check: does it hold a repetition, an alternation? */
interface GroupFacts {
  repeats: boolean;
  alternates: boolean;
}

/**
 * Rewrite an Oniguruma pattern (as written in tokenizer.json) into a JS regex source for the `u` flag.
 * @throws TokenizerError for an unterminated `\p{...}`, a trailing `\`, a translation over
 *   {@link MAX_PATTERN_SOURCE}, or a construct that backtracks exponentially (see the module comment)
 */
export function onigToJs(src: string): string {
  let out = '';
  let inClass = false;
  const ciDepths: number[] = []; // paren depths at which a (?i: group was opened
  let depth = 0;
  let afterQuantifier = false; // the previous token was a quantifier (so a following `+` is possessive)
  const groups: GroupFacts[] = [{ repeats: false, alternates: false }]; // [0]: the whole pattern
  let closed: GroupFacts | null = null; // the group that the previous token closed
  const bad = (why: string): never => {
    throw new TokenizerError(`pattern ${JSON.stringify(src.length > 80 ? src.slice(0, 80) + '…' : src)}: ${why}`);
  };
  for (let i = 0; i < src.length; i++) {
    if (out.length > MAX_PATTERN_SOURCE) bad(`translates to over ${MAX_PATTERN_SOURCE} characters`);
    const c = src[i];
    const wasQuantifier: boolean = afterQuantifier;
    afterQuantifier = false;
    const justClosed = closed;
    closed = null;
    if (!inClass && (c === '*' || c === '+' || c === '{' || c === '?') && !wasQuantifier) {
      // A quantifier: `?` and `{0,1}` / `{1}` do not repeat; the rest do.
      const counted = c === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i, i + 24)) : null;
      const repeats = c === '*' || c === '+' || (counted !== null && (counted[2] === undefined ? false : counted[3] === '' || Number(counted[3]) > 1));
      if (repeats && justClosed && (justClosed.repeats || justClosed.alternates)) {
        bad(`a repeated group holds a ${justClosed.repeats ? 'repetition' : 'alternation'} (nested quantifiers backtrack exponentially, e.g. (a+)+); write it with a character class`);
      }
      if (repeats) groups[groups.length - 1].repeats = true;
    }
    if (c === '\\') {
      if (i + 1 >= src.length) bad('ends with a lone backslash');
      const n = src[i + 1];
      i++;
      if (n === 's') out += inClass ? ONIG_SPACE : `[${ONIG_SPACE}]`;
      else if (n === 'S') out += inClass ? '\\S' : `[^${ONIG_SPACE}]`;
      else if (n === 'w') out += inClass ? ONIG_WORD : `[${ONIG_WORD}]`;
      else if (n === 'W') out += inClass ? '\\W' : `[^${ONIG_WORD}]`;
      else if (n === 'A') out += '^';
      else if (n === 'z' || n === 'Z') out += '$';
      else if (n === 'p' || n === 'P') {
        // \p{L} or the one-letter form \pL
        let name: string;
        if (src[i + 1] === '{') {
          const end = src.indexOf('}', i);
          if (end < 0) bad(`unterminated \\${n}{ at offset ${i - 1}`);
          name = src.slice(i + 2, end);
          i = end;
        } else {
          if (i + 1 >= src.length) bad(`\\${n} without a property name at the end`);
          name = src[i + 1];
          i++;
        }
        const table = name === 'L' ? ONIG_LETTER : name === 'N' ? ONIG_NUMBER : null;
        if (table !== null && n === 'p') out += inClass ? table : `[${table}]`;
        else if (table !== null && !inClass) out += `[^${table}]`;
        else out += '\\' + n + '{' + name + '}';
      } else out += '\\' + n;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      if (ciDepths.length > 0 && /[a-zA-Z]/.test(c) && src[i + 1] !== '-' && src[i - 1] !== '-') {
        out += c.toLowerCase() + c.toUpperCase();
      } else out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (src[i + 1] === '^') {
        out += '^';
        i++;
      }
      if (src[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(') {
      depth++;
      groups.push({ repeats: false, alternates: false });
      if (src.startsWith('(?i:', i)) {
        ciDepths.push(depth);
        out += '(?:';
        i += 3;
        continue;
      }
      out += c;
      continue;
    }
    if (c === ')') {
      if (ciDepths[ciDepths.length - 1] === depth) ciDepths.pop();
      depth--;
      if (groups.length > 1) {
        closed = groups.pop()!;
        if (closed.repeats) groups[groups.length - 1].repeats = true;
      }
      out += c;
      continue;
    }
    if (c === '|') groups[groups.length - 1].alternates = true;
    if (c === '+' && wasQuantifier) continue; // possessive → greedy
    if (c === '*' || c === '+' || c === '?') afterQuantifier = !wasQuantifier;
    if (c === '{') {
      // a counted quantifier {n}, {n,}, {n,m}: copy it whole
      const m = /^\{\d+(,\d*)?\}/.exec(src.slice(i));
      if (m) {
        out += m[0];
        i += m[0].length - 1;
        afterQuantifier = true;
        continue;
      }
    }
    if (ciDepths.length > 0 && /[a-zA-Z]/.test(c)) {
      out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
      continue;
    }
    out += c;
  }
  if (out.length > MAX_PATTERN_SOURCE) bad(`translates to over ${MAX_PATTERN_SOURCE} characters`);
  return out;
}

/**
 * `re.exec(s)`, with V8's "Maximum call stack size exceeded" (its backtracking stack, on a run of millions of
 * characters that a pattern repeats over) turned into a TokenizerError naming `where`.
 */
export function execChecked(re: RegExp, s: string, where: string): RegExpExecArray | null {
  try {
    return re.exec(s);
  } catch (e) {
    if (e instanceof RangeError) throw new TokenizerError(`${where}: the text (${s.length} characters) is too long for this pattern in one piece (${e.message})`);
    throw e;
  }
}

/** Escape a literal string for use in a JS regex with the `u` flag (not inside a class). */
export function escapeRegex(s: string): string {
  // Only the syntax characters and `/`: the `u` flag refuses other escapes (`\-` is a SyntaxError outside a class).
  return s.replace(/[.*+?^${}()|[\]\\\/]/g, '\\$&');
}

/** Compile a tokenizer.json pattern `{"Regex": ...}` or `{"String": ...}` to a global unicode JS regex. */
export function compilePattern(pattern: unknown, where: string): RegExp {
  const p = pattern as { Regex?: unknown; String?: unknown } | null;
  let src: string;
  if (p && typeof p.Regex === 'string') src = onigToJs(p.Regex);
  else if (p && typeof p.String === 'string') src = escapeRegex(p.String);
  else throw new TokenizerError(`${where}: pattern must be {"Regex": string} or {"String": string}, got ${JSON.stringify(pattern)}`);
  try {
    return new RegExp(src, 'gu');
  } catch (e) {
    throw new TokenizerError(`${where}: cannot compile pattern ${JSON.stringify(pattern)}: ${(e as Error).message}`);
  }
}

/** HF `SplitDelimiterBehavior`: what happens to the delimiter (the match) when a piece is split. */
export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

const BEHAVIORS: ReadonlySet<string> = new Set(['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']);

/** Validate a behaviour name from tokenizer.json. */
export function parseBehavior(b: unknown, where: string): SplitBehavior {
  if (typeof b === 'string' && BEHAVIORS.has(b)) return b as SplitBehavior;
  throw new TokenizerError(`${where}: unsupported split behavior ${JSON.stringify(b)}`);
}

/**
 * Split `s` by the matches of `re` (a global regex) with an HF split behaviour, appending the non-empty pieces
 * to `out`. Mirrors `NormalizedString::split` with `Pattern::find_matches` in HF `tokenizers`
 * (src/tokenizer/normalizer.rs and pattern.rs): the string is cut into alternating (match / non-match)
 * segments, `invert` swaps which is which, then the behaviour decides how matches attach to their neighbours.
 */
export function splitWith(s: string, re: RegExp, behavior: SplitBehavior, invert: boolean, out: string[], where = 'pre_tokenizer'): void {
  if (s.length === 0) return;
  // Fast path for the common Isolated / non-inverted case: pieces are the matches and the gaps, in order.
  re.lastIndex = 0;
  if (behavior === 'Isolated' || (behavior === 'Removed' && !invert)) {
    const keepMatches = behavior === 'Isolated';
    let prev = 0;
    let m: RegExpExecArray | null;
    while ((m = execChecked(re, s, where)) !== null) {
      const start = m.index;
      const end = start + m[0].length;
      if (end === start) {
        // An empty match still cuts the string (Rust `find_iter` yields it; HF pushes the gap before it).
        if (start > prev) out.push(s.slice(prev, start));
        prev = start;
        if (start >= s.length) break;
        re.lastIndex = start + (s.codePointAt(start)! > 0xffff ? 2 : 1);
        continue;
      }
      if (start > prev) out.push(s.slice(prev, start));
      if (keepMatches) out.push(m[0]);
      prev = end;
    }
    if (prev < s.length) out.push(s.slice(prev));
    return;
  }
  // General path: build the (start, end, isMatch) segments, then apply the behaviour.
  const starts: number[] = [];
  const ends: number[] = [];
  const isMatch: boolean[] = [];
  let prev = 0;
  let m: RegExpExecArray | null;
  while ((m = execChecked(re, s, where)) !== null) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) re.lastIndex = start + (start < s.length && s.codePointAt(start)! > 0xffff ? 2 : 1);
    if (start > prev) {
      starts.push(prev); ends.push(start); isMatch.push(invert);
    }
    starts.push(start); ends.push(end); isMatch.push(!invert);
    prev = end;
    if (start >= s.length) break;
  }
  if (prev < s.length) {
    starts.push(prev); ends.push(s.length); isMatch.push(invert);
  }
  const n = starts.length;
  const ps: number[] = [];
  const pe: number[] = [];
  if (behavior === 'Removed') {
    for (let k = 0; k < n; k++) if (!isMatch[k]) { ps.push(starts[k]); pe.push(ends[k]); }
  } else if (behavior === 'Contiguous') {
    let previous = false;
    for (let k = 0; k < n; k++) {
      if (isMatch[k] === previous && ps.length > 0) pe[pe.length - 1] = ends[k];
      else { ps.push(starts[k]); pe.push(ends[k]); }
      previous = isMatch[k];
    }
  } else if (behavior === 'MergedWithPrevious') {
    let previous = false;
    for (let k = 0; k < n; k++) {
      if (isMatch[k] && !previous && ps.length > 0) pe[pe.length - 1] = ends[k];
      else { ps.push(starts[k]); pe.push(ends[k]); }
      previous = isMatch[k];
    }
  } else {
    // MergedWithNext: the same fold, run from the right.
    let previous = false;
    const rs: number[] = [];
    const re2: number[] = [];
    for (let k = n - 1; k >= 0; k--) {
      if (isMatch[k] && !previous && rs.length > 0) rs[rs.length - 1] = starts[k];
      else { rs.push(starts[k]); re2.push(ends[k]); }
      previous = isMatch[k];
    }
    for (let k = rs.length - 1; k >= 0; k--) { ps.push(rs[k]); pe.push(re2[k]); }
  }
  for (let k = 0; k < ps.length; k++) if (pe[k] > ps[k]) out.push(s.slice(ps[k], pe[k]));
}
