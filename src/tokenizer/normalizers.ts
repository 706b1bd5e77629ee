/**
 * Normalizers: string → string transforms applied to the text between added tokens, before pre-tokenization.
 * Each mirrors the HF `tokenizers` normalizer of the same `type` (src/normalizers/*.rs). Only the text is
 * produced; offsets are not tracked because this library never needs them.
 */
import { TokenizerError } from '../errors.ts';
import { ONIG_SPACE, compilePattern, execChecked } from './pattern.ts';

/** A normalizer: a pure function of the text. */
export type Normalizer = (s: string) => string;

/**
 * How long normalized text may grow: at most `MAX_GROWTH` × the input + `MAX_EXTRA` characters. Real
 * normalizers change the length by a small factor (NFKD's largest expansion is 18 characters, `Replace` of
 * " " by "▁" keeps it); a `Replace` of the empty pattern by a long string, repeated in a `Sequence`, would
 * otherwise grow exponentially until V8 aborts the process.
 */
export const MAX_GROWTH = 8;
/** See {@link MAX_GROWTH}. */
export const MAX_EXTRA = 4096;

/** One step of a normalizer pipeline; `limit` is the longest output allowed. */
type Step = (s: string, limit: number) => string;

type Json = Record<string, unknown>;

/** Per-code-point lowercasing, as HF `NormalizedString::lowercase` (Rust `char::to_lowercase`, no final-sigma rule). */
function lowercase(s: string): string {
  let out = '';
  for (const ch of s) out += ch.toLowerCase();
  return out;
}

/** Drop combining marks (General Category M*), as HF `StripAccents` (meant to follow NFD). */
function stripAccents(s: string): string {
  return s.replace(/\p{M}/gu, '');
}

/**
 * Build a normalizer from its tokenizer.json object; `null` gives the identity. Nested `Sequence`s are
 * flattened (the same function), and every step is held to the growth bound of {@link MAX_GROWTH}.
 * @throws TokenizerError naming an unsupported `type`; the normalizer throws a TokenizerError when its
 *   output would pass the bound
 */
export function buildNormalizer(cfg: unknown, where = 'normalizer'): Normalizer | null {
  const steps: { step: Step; where: string }[] = [];
  collectSteps(cfg, where, steps);
  if (steps.length === 0) return cfg === null || cfg === undefined ? null : (s) => s;
  return (s) => {
    const limit = MAX_GROWTH * s.length + MAX_EXTRA;
    for (const { step, where: w } of steps) {
      s = step(s, limit);
      if (s.length > limit) throw tooLong(w, limit);
    }
    return s;
  };
}

function tooLong(where: string, limit: number): TokenizerError {
  return new TokenizerError(`${where}: the normalized text would exceed ${limit} characters (${MAX_GROWTH} × the input + ${MAX_EXTRA})`);
}

function collectSteps(cfg: unknown, where: string, steps: { step: Step; where: string }[]): void {
  if (cfg === null || cfg === undefined) return;
  const c = cfg as Json;
  const add = (step: Step): void => {
    steps.push({ step, where });
  };
  switch (c.type) {
    case 'NFC':
      return add((s) => s.normalize('NFC'));
    case 'NFD':
      return add((s) => s.normalize('NFD'));
    case 'NFKC':
      return add((s) => s.normalize('NFKC'));
    case 'NFKD':
      return add((s) => s.normalize('NFKD'));
    case 'Lowercase':
      return add(lowercase);
    case 'StripAccents':
      return add(stripAccents);
    case 'Strip': {
      // HF `Strip { strip_left, strip_right }` trims Unicode White_Space.
      const left = c.strip_left !== false;
      const right = c.strip_right !== false;
      const lre = new RegExp(`^[${ONIG_SPACE}]+`, 'u');
      const rre = new RegExp(`[${ONIG_SPACE}]+$`, 'u');
      return add((s) => {
        if (left) s = s.replace(lre, '');
        if (right) s = s.replace(rre, '');
        return s;
      });
    }
    case 'Prepend': {
      // HF `Prepend`: adds the string in front of any non-empty text.
      const p = String(c.prepend ?? '');
      return add((s) => (s.length > 0 ? p + s : s));
    }
    case 'Append': {
      const p = String(c.append ?? '');
      return add((s) => (s.length > 0 ? s + p : s));
    }
    case 'Replace': {
      // HF `Replace { pattern, content }`: every match of the pattern becomes `content` (no `$1` expansion).
      // Built match by match so that an output over the bound is refused before it exists.
      const re = compilePattern(c.pattern, `${where}.Replace`);
      const content = String(c.content ?? '');
      return add((s, limit) => {
        let out = '';
        let prev = 0;
        re.lastIndex = 0;
        let m: RegExpExecArray | null;
        while ((m = execChecked(re, s, `${where}.Replace`)) !== null) {
          out += s.slice(prev, m.index) + content;
          prev = m.index + m[0].length;
          if (out.length > limit) throw tooLong(where, limit);
          if (m[0].length === 0) {
            if (m.index >= s.length) break;
            // An empty match: step over one code point, as String.prototype.replace does with the u flag.
            const next = m.index + (s.codePointAt(m.index)! > 0xffff ? 2 : 1);
            out += s.slice(m.index, next);
            prev = next;
            re.lastIndex = next;
          }
        }
        return out + s.slice(prev);
      });
    }
    case 'Sequence': {
      const list = c.normalizers;
      if (!Array.isArray(list)) throw new TokenizerError(`${where}: Sequence without a "normalizers" array`);
      list.forEach((n, i) => collectSteps(n, `${where}.normalizers[${i}]`, steps));
      return;
    }
    default:
      throw new TokenizerError(`${where}: unsupported normalizer type ${JSON.stringify(c.type)}`);
  }
}
