/**
 * Differential property tests against Rust `tokenizers` (the `@anush008/tokenizers` binding, dev-only oracle).
 *
 * Falcon: 100,000 seeded random strings (10 hostile alphabets × 10,000), ids must be identical, and decoding the
 * oracle's ids (with and without skipping special tokens) must give the oracle's text. Then variants of the
 * Falcon file exercise the other components (pair-format merges, add_prefix_space, added-token flags,
 * normalizers, TemplateProcessing, every Split behaviour, Whitespace, a Llama-3-style regex, decoders).
 * Correctness only: the time the 100,000 strings take (and the slowest one) is measured by bench/tokenizer.ts.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../../src/tokenizer/index.ts';
import { allArbitraries } from './alphabets.ts';
import { FALCON_JSON, Rust, oracleDecode, oracleEncode, sameIds, type RustTokenizer } from './oracle.ts';

interface Mismatch {
  alphabet: string;
  text: string;
  expected: number[];
  got: number[];
  decoded?: [string, string];
}

/** Compare encode and decode of `n` strings per alphabet; returns the mismatches (at most 20 kept). */
async function differential(ours: Tokenizer, rust: RustTokenizer, n: number, seed: number, opts: { addSpecialTokens?: boolean; skipAlphabets?: string[] } = {}): Promise<{ count: number; bad: number; examples: Mismatch[] }> {
  const add = opts.addSpecialTokens === true;
  let count = 0;
  let bad = 0;
  const examples: Mismatch[] = [];
  for (const [name, arb] of allArbitraries()) {
    if (opts.skipAlphabets?.includes(name)) continue;
    const texts = fc.sample(arb, { seed, numRuns: n });
    const expected = await oracleEncode(rust, texts, add);
    const [dec, decSkip] = await Promise.all([oracleDecode(rust, expected, false), oracleDecode(rust, expected, true)]);
    for (let i = 0; i < texts.length; i++) {
      count++;
      const got = ours.encode(texts[i], { addSpecialTokens: add });
      const d = ours.decode(expected[i]);
      const ds = ours.decode(expected[i], { skipSpecialTokens: true });
      if (!sameIds(got, expected[i]) || d !== dec[i] || ds !== decSkip[i]) {
        bad++;
        if (examples.length < 20) examples.push({ alphabet: name, text: texts[i], expected: expected[i], got, decoded: d !== dec[i] ? [d, dec[i]] : ds !== decSkip[i] ? [ds, decSkip[i]] : undefined });
      }
    }
  }
  return { count, bad, examples };
}

const falconText = readFileSync(FALCON_JSON, 'utf8');

describe('Falcon tokenizer vs Rust tokenizers', () => {
  it('100,000 random hostile strings: identical ids and decodes', async () => {
    const ours = Tokenizer.fromJSON(falconText, FALCON_JSON);
    const rust = Rust.fromFile(FALCON_JSON);
    const r = await differential(ours, rust, 10_000, 20240601);
    expect(r.count).toBeGreaterThanOrEqual(100_000);
    expect(r.examples).toEqual([]);
    expect(r.bad).toBe(0);
  });

  it('random id sequences (partial UTF-8, special ids) decode identically', async () => {
    const ours = Tokenizer.fromJSON(falconText, FALCON_JSON);
    const rust = Rust.fromFile(FALCON_JSON);
    const arb = fc.array(fc.oneof(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 100, max: 260 }), fc.integer({ min: 0, max: 65023 })), { maxLength: 12 });
    const lists = fc.sample(arb, { seed: 7, numRuns: 5000 });
    const [a, b] = await Promise.all([oracleDecode(rust, lists, false), oracleDecode(rust, lists, true)]);
    const bad = lists.filter((ids, i) => ours.decode(ids) !== a[i] || ours.decode(ids, { skipSpecialTokens: true }) !== b[i]);
    expect(bad).toEqual([]);
  });

  it('round trip: decode(encode(s)) === s for text without token-less bytes', () => {
    const ours = Tokenizer.fromJSON(falconText, FALCON_JSON);
    // U+0003..U+0005, U+000B, … and planes 8–11 have no token and are dropped (docs/tokenizer.md); avoid them.
    const noTokenChar = /[\u0003-\u0005\u000b\u0011\u0013-\u0017\u0019\u001c-\u001e\u{80000}-\u{bffff}]/u;
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        fc.pre(!noTokenChar.test(s));
        expect(ours.decode(ours.encode(s))).toBe(s);
      }),
      { seed: 11, numRuns: 3000 },
    );
  });
});

/** Variants of the Falcon file, one component changed each. */
const VARIANTS: Record<string, { edit: (j: any) => void; addSpecialTokens?: boolean; skipAlphabets?: string[] }> = {
  'merges as ["a","b"] pairs': { edit: (j) => (j.model.merges = j.model.merges.map((m: string) => m.split(' '))) },
  'ByteLevel add_prefix_space': { edit: (j) => (j.pre_tokenizer.pretokenizers[1].add_prefix_space = true) },
  'added tokens with lstrip / rstrip / single_word / normalized': {
    edit: (j) =>
      j.added_tokens.push(
        { id: 65024, content: '[LS]', single_word: false, lstrip: true, rstrip: false, normalized: false, special: true },
        { id: 65025, content: '[RS]', single_word: false, lstrip: false, rstrip: true, normalized: false, special: false },
        { id: 65026, content: 'the', single_word: true, lstrip: false, rstrip: false, normalized: false, special: false },
        { id: 65027, content: 'hello', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
        { id: 65028, content: ' x', single_word: false, lstrip: true, rstrip: true, normalized: true, special: false },
      ),
  },
  // Normalization tables follow the JS engine's Unicode version (newer than Rust's unicode-normalization crate),
  // so random code points from recent Unicode versions are left out here (docs/tokenizer.md, "Limits").
  'normalizers NFKC + Lowercase, normalized added token': {
    edit: (j) => {
      j.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] };
      j.added_tokens.push({ id: 65024, content: 'HELLO', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false });
    },
    skipAlphabets: ['anything'],
  },
  'normalizers NFD + StripAccents + Replace + Prepend': {
    edit: (j) => (j.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }, { type: 'Replace', pattern: { String: 'a' }, content: 'AA' }, { type: 'Prepend', prepend: '_' }] }),
    skipAlphabets: ['anything'],
  },
  'normalizers NFKD + NFC + Replace(regex) + Strip': {
    edit: (j) => (j.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFKD' }, { type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Strip', strip_left: true, strip_right: true }] }),
    skipAlphabets: ['anything'],
  },
  'TemplateProcessing with add_special_tokens': {
    edit: (j) =>
      (j.post_processor = {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '>>TITLE<<', type_id: 0 } }],
        pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [11], tokens: ['<|endoftext|>'] }, '>>TITLE<<': { id: '>>TITLE<<', ids: [0], tokens: ['>>TITLE<<'] } },
      }),
    addSpecialTokens: true,
  },
  'Split behaviours MergedWithNext / MergedWithPrevious / Contiguous+invert / Removed': {
    edit: (j) =>
      (j.pre_tokenizer = {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'MergedWithNext', invert: false },
          { type: 'Split', pattern: { String: '.' }, behavior: 'MergedWithPrevious', invert: false },
          { type: 'Split', pattern: { Regex: '[aeiou]' }, behavior: 'Contiguous', invert: true },
          { type: 'Split', pattern: { Regex: ',' }, behavior: 'Removed', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      }),
  },
  'Split Removed+invert, empty matches': {
    edit: (j) =>
      (j.pre_tokenizer = {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: '\\p{L}+' }, behavior: 'Removed', invert: true },
          { type: 'Split', pattern: { Regex: 'x*' }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      }),
  },
  'Whitespace + Digits(individual)': {
    edit: (j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }, { type: 'Digits', individual_digits: true }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] }),
  },
  'WhitespaceSplit + Punctuation(Isolated)': {
    edit: (j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Punctuation', behavior: 'Isolated' }, { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true }] }),
  },
  'Llama-3-style split regex ((?i:...), \\p{N}{1,3}) + ignore_merges': {
    edit: (j) => {
      j.pre_tokenizer = {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      };
      j.model.ignore_merges = true;
    },
  },
  'decoder Sequence[ByteLevel, Replace, Fuse]': {
    edit: (j) => (j.decoder = { type: 'Sequence', decoders: [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true }, { type: 'Replace', pattern: { String: 'a' }, content: 'b' }, { type: 'Fuse' }] }),
  },
  'no decoder (tokens joined by spaces)': { edit: (j) => (j.decoder = null) },
  'Metaspace prepend_scheme always + Metaspace decoder': {
    edit: (j) => {
      j.pre_tokenizer = { type: 'Metaspace', replacement: 'Ġ', prepend_scheme: 'always', split: true };
      j.decoder = { type: 'Metaspace', replacement: 'Ġ', prepend_scheme: 'always', split: true };
    },
  },
  'Metaspace prepend_scheme first': {
    edit: (j) => {
      j.pre_tokenizer = { type: 'Metaspace', replacement: 'Ġ', prepend_scheme: 'first', split: true };
      j.decoder = { type: 'Metaspace', replacement: 'Ġ', prepend_scheme: 'first', split: true };
    },
  },
  'byte_fallback + ByteFallback/Fuse decoders, no pre-tokenizer': {
    edit: (j) => {
      j.model.byte_fallback = true;
      for (let b = 0; b < 256; b++) j.model.vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 70000 + b;
      j.pre_tokenizer = null;
      j.decoder = { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }] };
    },
  },
  'unk_token with fuse_unk, WhitespaceSplit': {
    edit: (j) => {
      j.model.unk_token = '>>TITLE<<';
      j.model.fuse_unk = true;
      j.pre_tokenizer = { type: 'WhitespaceSplit' };
    },
  },
};

describe('tokenizer.json variants vs Rust tokenizers', () => {
  const base = JSON.parse(falconText);
  for (const [name, v] of Object.entries(VARIANTS)) {
    it(name, async () => {
      const j = structuredClone(base);
      v.edit(j);
      const text = JSON.stringify(j);
      const r = await differential(Tokenizer.fromJSON(text, name), Rust.fromString(text), 300, 5, v);
      expect(r.examples).toEqual([]);
      expect(r.bad).toBe(0);
    });
  }
});
