/**
 * Byte-level helpers: GPT-2's bytes ↔ unicode map and UTF-8 encode / lossy decode.
 *
 * Byte-level BPE works on bytes, but its vocabulary is stored as JSON strings, so every byte 0..255 is
 * given a printable stand-in character. Printable Latin-1 bytes (`!`..`~`, `¡`..`¬`, `®`..`ÿ`) stand for
 * themselves; the other 68 bytes are mapped, in order, to U+0100.. (so space 0x20 becomes `Ġ` U+0120 and
 * `\n` becomes `Ċ` U+010A). This mirrors `bytes_char()` in HF `tokenizers/src/pre_tokenizers/byte_level.rs`
 * and `bytes_to_unicode()` in OpenAI's GPT-2 `encoder.py`.
 */

/** The tables built once per process. They are immutable after construction. */
export interface ByteTables {
  /** byte → its stand-in character (a one-code-unit string). */
  readonly byteToChar: readonly string[];
  /** code unit of a stand-in character → byte, or -1 when the code unit is not a stand-in. */
  readonly charToByte: Int16Array;
}

function buildByteTables(): ByteTables {
  const byteToChar: string[] = new Array(256);
  const charToByte = new Int16Array(0x200).fill(-1);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const cp = printable ? b : 256 + n++;
    byteToChar[b] = String.fromCharCode(cp);
    charToByte[cp] = b;
  }
  return Object.freeze({ byteToChar: Object.freeze(byteToChar), charToByte });
}

/** The GPT-2 byte ↔ unicode tables (constant, so sharing them across tokenizers is safe). */
export const BYTE_TABLES: ByteTables = buildByteTables();

/**
 * Map a string to its byte-level form: UTF-8 encode it and replace each byte by its stand-in character.
 * Mirrors the `normalize` step of HF `ByteLevel::pre_tokenize`. The input must be well-formed UTF-16
 * (the tokenizer replaces lone surrogates before it gets here).
 */
export function toByteLevel(s: string): string {
  const t = BYTE_TABLES.byteToChar;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out += t[c];
    } else if (c < 0x800) {
      out += t[0xc0 | (c >> 6)] + t[0x80 | (c & 0x3f)];
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
      i++;
      out += t[0xf0 | (c >> 18)] + t[0x80 | ((c >> 12) & 0x3f)] + t[0x80 | ((c >> 6) & 0x3f)] + t[0x80 | (c & 0x3f)];
    } else {
      out += t[0xe0 | (c >> 12)] + t[0x80 | ((c >> 6) & 0x3f)] + t[0x80 | (c & 0x3f)];
    }
  }
  return out;
}

/**
 * The bytes a token stands for under the ByteLevel decoder: each stand-in character gives its byte; a token
 * containing any other character gives its own UTF-8 bytes instead (HF `ByteLevel::decode_chain` falls back
 * to `t.as_bytes()` for the whole token in that case, which matters for added tokens such as `"  "`).
 */
export function byteLevelTokenBytes(token: string, encoder: { encode(s: string): Uint8Array }): Uint8Array {
  const m = BYTE_TABLES.charToByte;
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const b = c < 0x200 ? m[c] : -1;
    if (b < 0) return encoder.encode(token);
    out[i] = b;
  }
  return out;
}

/** True when `s` contains an unpaired UTF-16 surrogate. */
export function hasLoneSurrogate(s: string): boolean {
  const f = (s as unknown as { isWellFormed?: () => boolean }).isWellFormed;
  if (typeof f === 'function') return !f.call(s);
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/**
 * Replace every unpaired surrogate by U+FFFD, as `TextEncoder` does and as Node's N-API does when a JS
 * string is handed to Rust `tokenizers` (so this is what the `@anush008/tokenizers` binding sees).
 */
export function replaceLoneSurrogates(s: string): string {
  if (!hasLoneSurrogate(s)) return s;
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
