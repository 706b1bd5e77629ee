/**
 * The smallest valid tokenizer.json (byte-level BPE over a, b, ab and one added `<eos>`) for the tokenizer
 * error and hardening specs, and their one check that a call fails with a TokenizerError.
 */
import { expect } from 'vitest';
import { FalconMambaError, TokenizerError } from '../../src/errors.ts';

/**
 * A tiny valid byte-level BPE tokenizer.json: vocab {a: 0, b: 1, ab: 2, <eos>: 3} plus `vocab`, merge `a b`,
 * `<eos>` special; top-level fields replaced by `patch`.
 */
export function tinyTokenizerJson(patch: Record<string, unknown> = {}, vocab: Record<string, number> = {}): Record<string, unknown> {
  return {
    version: '1.0',
    added_tokens: [{ id: 3, content: '<eos>', special: true, normalized: false, lstrip: false, rstrip: false, single_word: false }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, vocab: { a: 0, b: 1, ab: 2, '<eos>': 3, ...vocab }, merges: ['a b'] },
    ...patch,
  };
}

/** `f()` throws a TokenizerError (a FalconMambaError) whose message matches `re`. */
export function throwsTokenizerError(f: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a TokenizerError').toBeInstanceOf(TokenizerError);
  expect(err).toBeInstanceOf(FalconMambaError);
  expect((err as Error).message).toMatch(re);
}

/** 40 single characters: the whole vocabulary of {@link charTokenizerJson}, id = index (a 40-token model fits it). */
export const CHARS_40 = 'abcdefghijklmnopqrstuvwxyz ;:ABCDEFGHIJK';

/** A tokenizer.json whose tokens are the characters of {@link CHARS_40} (no merges, no normalizer, no decoder). */
export function charTokenizerJson(): Record<string, unknown> {
  return { model: { type: 'BPE', vocab: Object.fromEntries([...CHARS_40].map((c, i) => [c, i])), merges: [] }, decoder: null };
}

/** A chat template in the characters of {@link CHARS_40}: `role: content;` per message, then `assistant: `. */
export const CHAR_CHAT_TEMPLATE = '{% for m in messages %}{{ m.role }}: {{ m.content }};{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}';
