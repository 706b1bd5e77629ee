/**
 * StreamDecoder property: for any id sequence, the concatenated output of push/flush equals decode(all ids), with
 * and without skipping special tokens, and no pushed chunk ends inside a UTF-8 character.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { StreamDecoder, Tokenizer } from '../../src/tokenizer/index.ts';
import { TokenizerError } from '../../src/errors.ts';
import { fromAlphabet, anything } from './alphabets.ts';
import { FALCON_JSON } from './oracle.ts';

const falcon = JSON.parse(readFileSync(FALCON_JSON, 'utf8'));
const tok = Tokenizer.fromJSON(falcon, FALCON_JSON);

function streamAll(t: Tokenizer, ids: number[], skipSpecialTokens: boolean): { text: string; chunks: string[] } {
  const s = new StreamDecoder(t, { skipSpecialTokens });
  const chunks = ids.map((id) => s.push(id));
  chunks.push(s.flush());
  return { text: chunks.join(''), chunks };
}

const idArb = fc.array(fc.oneof(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 100, max: 260 }), fc.integer({ min: 0, max: tok.vocabSize - 1 })), { maxLength: 30 });

describe('StreamDecoder', () => {
  it('random ids: concatenation equals decode(all), both skip modes', () => {
    fc.assert(
      fc.property(idArb, fc.boolean(), (ids, skip) => {
        expect(streamAll(tok, ids, skip).text).toBe(tok.decode(ids, { skipSpecialTokens: skip }));
      }),
      { seed: 3, numRuns: 5000 },
    );
  });

  it('ids of real text: equal to decode, and chunks before flush never hold U+FFFD from a split character', () => {
    fc.assert(
      fc.property(fc.oneof(fromAlphabet('emoji'), fromAlphabet('cjk'), fromAlphabet('rtl'), anything()), (text) => {
        const ids = tok.encode(text);
        const { text: out, chunks } = streamAll(tok, ids, false);
        expect(out).toBe(tok.decode(ids));
        // encode output is whole characters, so the stream must never need a replacement character
        if (!text.includes('\ufffd') && !/[\ud800-\udfff]/.test(text)) expect(chunks.join('').includes('\ufffd')).toBe(false);
      }),
      { seed: 4, numRuns: 3000 },
    );
  });

  it('holds back a partial character: "в" is two tokens', () => {
    const ids = tok.encode('в');
    expect(ids.length).toBe(2);
    const s = new StreamDecoder(tok);
    expect(s.push(ids[0])).toBe('');
    expect(s.push(ids[1])).toBe('в');
    expect(s.flush()).toBe('');
  });

  it('flush emits U+FFFD for a dangling partial character, and resets', () => {
    const s = new StreamDecoder(tok);
    expect(s.push(tok.encode('в')[0])).toBe('');
    expect(s.flush()).toBe('\ufffd');
    expect(s.push(tok.encode('a')[0])).toBe('a');
  });

  it('unknown id → TokenizerError naming it', () => {
    const s = new StreamDecoder(tok);
    expect(() => s.push(99999)).toThrow(TokenizerError);
    expect(() => s.push(99999)).toThrow(/99999/);
  });

  it('generic path (non-ByteLevel decoder) keeps the same property', () => {
    const j = structuredClone(falcon);
    j.decoder = { type: 'Sequence', decoders: [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true }, { type: 'Replace', pattern: { String: 'a' }, content: 'b' }] };
    const t2 = Tokenizer.fromJSON(j, 'generic-decoder');
    fc.assert(
      fc.property(idArb, fc.boolean(), (ids, skip) => {
        expect(streamAll(t2, ids, skip).text).toBe(t2.decode(ids, { skipSpecialTokens: skip }));
      }),
      { seed: 5, numRuns: 500 },
    );
  });
});
