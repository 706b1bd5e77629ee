/**
 * Normalizers: string → string transforms applied to the text between added tokens, before pre-tokenization.
 * Each mirrors the HF `tokenizers` normalizer of the same `type` (src/normalizers/*.rs). Only the text is
 * produced; offsets are not tracked because this library never needs them.
 */
import { TokenizerError } from '../errors.ts';
import { ONIG_SPACE, compilePattern } from './pattern.ts';

/** A normalizer: a pure function of the text. */
export type Normalizer = (s: string) => string;

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
 * Build a normalizer from its tokenizer.json object; `null` gives the identity.
 * @throws TokenizerError naming an unsupported `type`.
 */
export function buildNormalizer(cfg: unknown, where = 'normalizer'): Normalizer | null {
  if (cfg === null || cfg === undefined) return null;
  const c = cfg as Json;
  switch (c.type) {
    case 'NFC':
      return (s) => s.normalize('NFC');
    case 'NFD':
      return (s) => s.normalize('NFD');
    case 'NFKC':
      return (s) => s.normalize('NFKC');
    case 'NFKD':
      return (s) => s.normalize('NFKD');
    case 'Lowercase':
      return lowercase;
    case 'StripAccents':
      return stripAccents;
    case 'Strip': {
      // HF `Strip { strip_left, strip_right }` trims Unicode White_Space.
      const left = c.strip_left !== false;
      const right = c.strip_right !== false;
      const lre = new RegExp(`^[${ONIG_SPACE}]+`, 'u');
      const rre = new RegExp(`[${ONIG_SPACE}]+$`, 'u');
      return (s) => {
        if (left) s = s.replace(lre, '');
        if (right) s = s.replace(rre, '');
        return s;
      };
    }
    case 'Prepend': {
      // HF `Prepend`: adds the string in front of any non-empty text.
      const p = String(c.prepend ?? '');
      return (s) => (s.length > 0 ? p + s : s);
    }
    case 'Append': {
      const p = String(c.append ?? '');
      return (s) => (s.length > 0 ? s + p : s);
    }
    case 'Replace': {
      // HF `Replace { pattern, content }`: every match of the pattern becomes `content` (no `$1` expansion).
      const re = compilePattern(c.pattern, `${where}.Replace`);
      const content = String(c.content ?? '');
      return (s) => s.replace(re, () => content);
    }
    case 'Sequence': {
      const list = c.normalizers;
      if (!Array.isArray(list)) throw new TokenizerError(`${where}: Sequence without a "normalizers" array`);
      const fns = list.map((n, i) => buildNormalizer(n, `${where}.normalizers[${i}]`)).filter((f): f is Normalizer => f !== null);
      return (s) => {
        for (const f of fns) s = f(s);
        return s;
      };
    }
    default:
      throw new TokenizerError(`${where}: unsupported normalizer type ${JSON.stringify(c.type)}`);
  }
}
