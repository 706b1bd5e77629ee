/**
 * Decoders: token strings → text. Mirrors HF `tokenizers` src/decoders/*.rs: each decoder maps a list of token
 * strings to a new list (`decode_chain`), a `Sequence` chains them, and the final text is the concatenation.
 */
import { TokenizerError } from '../errors.ts';
import { byteLevelTokenBytes } from './bytes.ts';
import { compilePattern } from './pattern.ts';

/** One decoder step (HF `Decoder::decode_chain`). */
export type DecoderStep = (tokens: string[]) => string[];

/** A built decoder, with what the stream decoder needs to know about it. */
export interface Decoder {
  /** The whole chain. */
  readonly chain: DecoderStep;
  /**
   * True when the decoder is exactly HF `ByteLevel`: text = lossy UTF-8 of the concatenated token bytes,
   * which lets {@link StreamDecoder} work on bytes without re-decoding.
   */
  readonly byteLevel: boolean;
}

type Json = Record<string, unknown>;

/**
 * Lossy UTF-8 decoding: each maximal invalid subsequence becomes one U+FFFD. This is what Rust's
 * `String::from_utf8_lossy` does (HF decoders use it) and what the WHATWG `TextDecoder` does; `ignoreBOM`
 * keeps a leading U+FEFF as Rust does.
 */
export function utf8Lossy(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(bytes);
}

function byteLevelStep(): DecoderStep {
  const enc = new TextEncoder();
  return (tokens) => {
    const parts = tokens.map((t) => byteLevelTokenBytes(t, enc));
    let total = 0;
    for (const p of parts) total += p.length;
    const all = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return [utf8Lossy(all)];
  };
}

const BYTE_TOKEN = /^<0x([0-9A-F]{2})>$/;

/** HF `ByteFallback`: runs of `<0xXX>` tokens become their bytes; invalid UTF-8 gives one U+FFFD per byte. */
function byteFallbackStep(): DecoderStep {
  return (tokens) => {
    const out: string[] = [];
    let pending: number[] = [];
    const flush = (): void => {
      if (pending.length === 0) return;
      try {
        out.push(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(new Uint8Array(pending)));
      } catch {
        for (let i = 0; i < pending.length; i++) out.push('\ufffd');
      }
      pending = [];
    };
    for (const t of tokens) {
      const m = BYTE_TOKEN.exec(t);
      if (m) pending.push(parseInt(m[1], 16));
      else {
        flush();
        out.push(t);
      }
    }
    flush();
    return out;
  };
}

/**
 * Build a decoder from its tokenizer.json object. `null` is HF's default: tokens joined by a space.
 * @throws TokenizerError naming an unsupported `type`.
 */
export function buildDecoder(cfg: unknown, where = 'decoder'): Decoder {
  if (cfg === null || cfg === undefined) return { chain: (t) => [t.join(' ')], byteLevel: false };
  const c = cfg as Json;
  if (c.type === 'ByteLevel') return { chain: byteLevelStep(), byteLevel: true };
  return { chain: buildStep(c, where), byteLevel: false };
}

function buildStep(c: Json, where: string): DecoderStep {
  switch (c.type) {
    case 'ByteLevel':
      return byteLevelStep();
    case 'ByteFallback':
      return byteFallbackStep();
    case 'Fuse':
      return (t) => [t.join('')];
    case 'Replace': {
      const re = compilePattern(c.pattern, `${where}.Replace`);
      const content = String(c.content ?? '');
      return (t) => t.map((s) => s.replace(re, () => content));
    }
    case 'Strip': {
      // HF `Strip { content, start, stop }`: remove up to `start` leading and `stop` trailing `content` chars.
      const ch = String(c.content ?? ' ');
      const start = Number(c.start ?? 0);
      const stop = Number(c.stop ?? 0);
      return (t) =>
        t.map((s) => {
          const chars = Array.from(s);
          let a = 0;
          while (a < start && a < chars.length && chars[a] === ch) a++;
          let b = chars.length;
          while (chars.length - b < stop && b > a && chars[b - 1] === ch) b--;
          return chars.slice(a, b).join('');
        });
    }
    case 'Metaspace': {
      const rep = typeof c.replacement === 'string' ? c.replacement : '\u2581';
      let scheme = typeof c.prepend_scheme === 'string' ? c.prepend_scheme : undefined;
      if (scheme === undefined) scheme = c.add_prefix_space === false ? 'never' : 'always';
      return (t) =>
        t.map((s, i) => {
          const r = s.split(rep).join(' ');
          return i === 0 && scheme !== 'never' && r.startsWith(' ') ? r.slice(1) : r;
        });
    }
    case 'Sequence': {
      const list = c.decoders;
      if (!Array.isArray(list)) throw new TokenizerError(`${where}: Sequence without a "decoders" array`);
      const steps = list.map((d, i) => buildStep(d as Json, `${where}.decoders[${i}]`));
      return (t) => {
        for (const s of steps) t = s(t);
        return t;
      };
    }
    default:
      throw new TokenizerError(`${where}: unsupported decoder type ${JSON.stringify(c.type)}`);
  }
}
