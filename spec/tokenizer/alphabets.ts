/**
 * Hostile alphabets for the differential tokenizer specs: each is a list of fragments that random strings are
 * built from (fast-check picks fragments and joins them), so each alphabet stresses one part of the pipeline.
 */
import fc from 'fast-check';

/** The 28 bytes with no single-byte token in Falcon's vocabulary (docs/falcon-tokenizer.md §1 fact 5). */
export const NO_TOKEN_BYTES = [0x03, 0x04, 0x05, 0x0b, 0x11, 0x13, 0x14, 0x15, 0x16, 0x17, 0x19, 0x1c, 0x1d, 0x1e, 0xc0, 0xc1, 0xf2, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff];

const words = ['a', 'b', 'x', 'the', ' the', 'if', 'Hello', 'world', 'ab', 'é', 'ü'];

const c0 = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i));
const c1 = Array.from({ length: 32 }, (_, i) => String.fromCharCode(0x80 + i));

/** Named alphabets. */
export const ALPHABETS: Record<string, string[]> = {
  whitespace: [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', '\r', '\u00a0', '\u3000', '\u2028', '\u2029', '\u0085', '\u200b', '\ufeff', '\u1680', '\u2009', '\u202f', '\v', '\f', ...words],
  digits: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '12', '345', '2024', '²', '³', '¹', '¼', '½', '¾', '٣', '०', '௧', 'Ⅻ', '.', ',', ' ', '-', '+', 'e', 'x', '$', '%'],
  punctuation: [...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~', '«', '»', '“', '”', '‘', '’', '…', '—', '–', '¡', '¿', '、', '。', '「', '」', '§', '¶', '·', '•', '※', ' ', 'a', 'x', '\'s', '\'ll', '\'re', 'n\'t', '...', '!!', '?!'],
  emoji: ['👨‍👩‍👧‍👦', '👍🏽', '👍', '\u200d', '\ufe0f', '🇫🇷', '🇺🇸', '😀', '🤖', '❤️', '🏳️‍🌈', '©', '™', '🫠', 'a', ' ', '!', '1'],
  cjk: ['中', '文', '字', '漢', '语', 'ひ', 'ら', 'が', 'な', 'カ', 'タ', 'ー', '한', '국', '어', '。', '、', '！', '（', '）', '　', ' ', 'a', '1', '𠀀', '𪚥'],
  rtl: ['ש', 'ל', 'ו', 'ם', 'م', 'ر', 'ح', 'ب', 'ا', '\u0651', '\u064b', '\u200f', '\u200e', '\u202e', '\u202c', '\u2067', '٣', '،', ' ', 'a', '1', '?'],
  controls: [...c0, '\u007f', ...c1, '\u{80000}', '\u{9ffff}', '\u{bfffd}', 'a', 'b', ' ', '  ', 'x'],
  special: ['<|endoftext|>', '>>QUESTION<<', '>>TITLE<<', '>>', '<<', '<|', '|>', 'endoftext', 'QUESTION', '<', '>', '|', ' ', '\n', 'a', 'Hello', '>>>', '<<<'],
  code: ['def ', 'function', '(', ')', '{', '}', ':', ';', '\n', '    ', '\t', '=', '==', '=>', 'x', 'y1', '0x1F', '"', "'", '#', '//', '/*', '*/', ' ', 'return', '[', ']', '->', '::'],
};

/** Fragment-based string arbitrary for one alphabet. */
export function fromAlphabet(name: string, maxFragments = 24): fc.Arbitrary<string> {
  const frags = ALPHABETS[name];
  return fc.array(fc.constantFrom(...frags), { maxLength: maxFragments }).map((a) => a.join(''));
}

/** Any code points (lone surrogates included), mixed with the fragments of every alphabet. */
export function anything(maxFragments = 16): fc.Arbitrary<string> {
  const all = Object.values(ALPHABETS).flat();
  return fc
    .array(fc.oneof(fc.constantFrom(...all), fc.string({ unit: 'binary', maxLength: 4 }), fc.string({ unit: 'grapheme', maxLength: 3 })), { maxLength: maxFragments })
    .map((a) => a.join(''));
}

/** All the alphabets as named arbitraries, `anything` last. */
export function allArbitraries(): [string, fc.Arbitrary<string>][] {
  return [...Object.keys(ALPHABETS).map((n): [string, fc.Arbitrary<string>] => [n, fromAlphabet(n)]), ['anything', anything()]];
}
