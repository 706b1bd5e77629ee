/**
 * tokenizer.json is untrusted: no pattern, normalizer, pre-tokenizer or added token may hang the process,
 * abort V8 or overflow its stack. Each case ends with a TokenizerError, or gives the right ids.
 */
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../../src/tokenizer/index.ts';
import { onigToJs } from '../../src/tokenizer/pattern.ts';
import { GPT2_PATTERN } from '../../src/tokenizer/pretokenizers.ts';
import { TokenizerError } from '../../src/errors.ts';
import { throwsTokenizerError, tinyTokenizerJson } from '../helpers/tiny-tokenizer.ts';

/** The tiny tokenizer.json with two more tokens (Ġ, x), parts replaced by `patch`. */
const tiny = (patch: Record<string, unknown> = {}) => tinyTokenizerJson(patch, { 'Ġ': 4, x: 5 });
const tokenizerError = throwsTokenizerError;

const split = (regex: string) => ({ pre_tokenizer: { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false } });

describe('patterns (Oniguruma → JS)', () => {
  it('an unterminated \\p{L is refused (was: the translation looped forever, growing to 3 GB)', () => {
    tokenizerError(() => Tokenizer.fromJSON(tiny(split('\\p{L'))), /unterminated \\p\{/);
    tokenizerError(() => onigToJs('a\\P{N'), /unterminated \\P\{/);
  });
  it('every other unterminated construct is a TokenizerError', () => {
    for (const p of ['\\', 'a\\p', '[a-z', '(ab', '(?i:ab', 'a{2', '\\x{41']) {
      let err: unknown;
      try {
        Tokenizer.fromJSON(tiny(split(p))).encode('ab {2 A');
      } catch (e) {
        err = e;
      }
      if (err !== undefined) expect(err, p).toBeInstanceOf(TokenizerError);
    }
  });
  it('nested quantifiers and repeated alternations are refused (was: (a+)+$ hangs for minutes on 40 characters)', () => {
    for (const p of ['(a+)+$', '(a*)*b', '(?:\\s+)+x', '((ab)+)+', '(a|ab)*c', '(?:a|a){2,}$', '(x+){1,100}']) {
      tokenizerError(() => Tokenizer.fromJSON(tiny(split(p))), /nested quantifiers|repeated group/);
      tokenizerError(() => Tokenizer.fromJSON(tiny({ normalizer: { type: 'Replace', pattern: { Regex: p }, content: '' } })), /repeated group/);
    }
  });
  it('the patterns of real tokenizers still compile', () => {
    const real = [
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}",
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
      '[0-9]{3}', '(?:\\r?\\n)+', '\\p{N}{1}', 'a++b', '(ab)?c',
    ];
    for (const p of real) expect(() => new RegExp(onigToJs(p), 'gu'), p).not.toThrow();
    expect(() => new RegExp(GPT2_PATTERN, 'gu')).not.toThrow();
  });
  it('a pattern that would translate to megabytes is refused', () => {
    tokenizerError(() => onigToJs('\\w'.repeat(1000)), /translates to over/);
  });
});

describe('normalizer and pre-tokenizer output bounds', () => {
  const growing = {
    type: 'Sequence',
    normalizers: Array.from({ length: 6 }, () => ({ type: 'Replace', pattern: { Regex: '' }, content: 'x'.repeat(1000) })),
  };
  it('a Sequence of empty-pattern Replaces is refused at the bound (was: V8 fatal abort in RegExpExecMultiple)', () => {
    const t = Tokenizer.fromJSON(tiny({ normalizer: growing }));
    tokenizerError(() => t.encode('abababab'), /normalizer\.normalizers\[\d\]: the normalized text would exceed/);
  });
  it('Replace keeps String.prototype.replace semantics on empty and astral matches', () => {
    const cases: [string, string, string][] = [['a*', 'ab', 'X'], ['', 'a😀b', '-'], ['a|', 'aa', 'X'], ['b', 'abcb', 'Y']];
    for (const [re, text, content] of cases) {
      const t = Tokenizer.fromJSON(tiny({ normalizer: { type: 'Replace', pattern: { Regex: re }, content }, pre_tokenizer: null, decoder: null }));
      // The tokenizer has no byte-level map here, so the normalized text is visible through which ids fail.
      const want = text.replace(new RegExp(re, 'gu'), () => content);
      expect(t['normalizer']!(text), `${re} on ${text}`).toBe(want);
    }
  });
  it('Metaspace replacement and CharDelimiterSplit delimiter must be one character, as in HF', () => {
    tokenizerError(() => Tokenizer.fromJSON(tiny({ pre_tokenizer: { type: 'Metaspace', replacement: 'y'.repeat(10000) } })), /Metaspace\.replacement: must be one character/);
    tokenizerError(() => Tokenizer.fromJSON(tiny({ pre_tokenizer: { type: 'CharDelimiterSplit', delimiter: 'ab' } })), /delimiter: must be one character/);
    expect(() => Tokenizer.fromJSON(tiny({ pre_tokenizer: { type: 'Metaspace', replacement: '▁' } }))).not.toThrow();
  });
  it('5 M characters of one script: a TokenizerError, not "Maximum call stack size exceeded"', () => {
    const t = Tokenizer.fromJSON(tiny());
    tokenizerError(() => t.encode('中'.repeat(5_000_000)), /too long for this pattern in one piece/);
  });
  it('a 50,000-deep Sequence is refused before it is built (was: stack overflow)', () => {
    let n: Record<string, unknown> = { type: 'ByteLevel' };
    for (let i = 0; i < 50_000; i++) n = { type: 'Sequence', pretokenizers: [n] };
    tokenizerError(() => Tokenizer.fromJSON(tiny({ pre_tokenizer: n })), /nested deeper than 128 levels/);
    let text = '{"type":"ByteLevel"}';
    for (let i = 0; i < 50_000; i++) text = `{"type":"Sequence","pretokenizers":[${text}]}`;
    tokenizerError(() => Tokenizer.fromJSON(JSON.stringify(tiny()).replace('"pre_tokenizer":{', `"pre_tokenizer":${text},"x":{`)), /nested deeper/);
  });
});

describe('added tokens', () => {
  const flagged = (lstrip: boolean, rstrip: boolean, singleWord: boolean) =>
    tiny({ added_tokens: [{ id: 3, content: '<eos>', special: true, normalized: false, lstrip, rstrip, single_word: singleWord }] });

  /** HF `find_matches`, written the slow obvious way (whole-prefix regexes), to check the fast one. */
  function naive(text: string, lstrip: boolean, rstrip: boolean): (string | number)[] {
    const out: (string | number)[] = [];
    let at = 0;
    const re = /<eos>/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      let start = m.index;
      let stop = start + 5;
      if (lstrip) start = Math.max(/\s*$/u.exec(text.slice(0, start))!.index, at);
      if (rstrip) stop += /^\s*/u.exec(text.slice(stop))![0].length;
      if (at < start) out.push(text.slice(at, start));
      out.push(3);
      at = stop;
    }
    if (at < text.length) out.push(text.slice(at));
    return out;
  }

  it('lstrip/rstrip/single_word cut the same segments as the prefix-regex definition', () => {
    const texts = ['a <eos> b', '  <eos>  <eos>', '<eos>   ', 'x<eos>y', '\t\n<eos>\u3000b', ' <eos><eos> '];
    for (const [l, r] of [[true, false], [false, true], [true, true]]) {
      const t = Tokenizer.fromJSON(flagged(l, r, false));
      for (const text of texts) {
        const segs = t['added'].extractAndNormalize(text, null).map((s: { text?: string; id?: number }) => s.text ?? s.id);
        expect(segs, `${JSON.stringify(text)} lstrip=${l} rstrip=${r}`).toEqual(naive(text, l, r));
      }
    }
    const sw = Tokenizer.fromJSON(flagged(false, false, true));
    expect(sw['added'].extractAndNormalize('a<eos> <eos>b <eos>', null).map((s: { text?: string; id?: number }) => s.text ?? s.id)).toEqual(['a<eos> <eos>b ', 3]);
  });
  it('encoding with lstrip/rstrip tokens is linear (was quadratic: 760 KB took 66 s)', () => {
    const t = Tokenizer.fromJSON(flagged(true, true, true));
    const text = 'ab  <eos>  x '.repeat(120_000); // 1.56 MB, 120,000 matches
    const t0 = performance.now();
    const ids = t.encode(text);
    expect(ids.filter((i) => i === 3).length).toBe(120_000);
    // Quadratic scans would take minutes here; linear ones well under a second. Generous for a busy machine.
    expect(performance.now() - t0).toBeLessThan(30_000);
  });
});
