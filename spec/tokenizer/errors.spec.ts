/** Bad input: every failure is a TokenizerError whose message names what is wrong. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer, loadTokenizerFiles, renderChatTemplate } from '../../src/tokenizer/index.ts';
import { TokenizerError } from '../../src/errors.ts';
import { throwsTokenizerError, tinyTokenizerJson } from '../helpers/tiny-tokenizer.ts';

const tiny = () => tinyTokenizerJson();

describe('tokenizer errors', () => {
  it('a tiny tokenizer works', () => {
    const t = Tokenizer.fromJSON(tiny());
    expect(t.encode('ab<eos>ba')).toEqual([2, 3, 1, 0]);
    expect(t.decode([2, 3])).toBe('ab<eos>');
    expect(t.decode([2, 3], { skipSpecialTokens: true })).toBe('ab');
    expect(t.vocabSize).toBe(4);
    expect([...t.specialIds]).toEqual([3]);
  });

  it('bad JSON text', () => throwsTokenizerError(() => Tokenizer.fromJSON('{"model": ', 'x.json'), /x\.json: not valid JSON/));
  it('not an object', () => throwsTokenizerError(() => Tokenizer.fromJSON('[1,2]', 'x.json'), /expected a JSON object/));
  it('no model', () => throwsTokenizerError(() => Tokenizer.fromJSON({}), /no "model"/));
  it('unsupported model type is named', () => throwsTokenizerError(() => Tokenizer.fromJSON({ ...tiny(), model: { type: 'Unigram', vocab: [] } }), /Unigram/));

  const unsupported: [string, Record<string, unknown>][] = [
    ['normalizer', { normalizer: { type: 'Precompiled', precompiled_charsmap: '' } }],
    ['pre_tokenizer', { pre_tokenizer: { type: 'UnicodeScripts' } }],
    ['decoder', { decoder: { type: 'CTC' } }],
    ['post_processor', { post_processor: { type: 'Fancy' } }],
    ['nested pre_tokenizer', { pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'ByteLevel' }, { type: 'Whatever' }] } }],
  ];
  for (const [where, patch] of unsupported) {
    it(`unsupported ${where} type is named`, () => {
      const type = JSON.stringify(patch).match(/"type":"(\w+)"(?!.*"type")/)![1];
      throwsTokenizerError(() => Tokenizer.fromJSON({ ...tiny(), ...patch }, 'tok.json'), new RegExp(`tok\\.json: .*${type}`));
    });
  }

  it('unsupported Split behavior is named', () =>
    throwsTokenizerError(() => Tokenizer.fromJSON({ ...tiny(), pre_tokenizer: { type: 'Split', pattern: { String: ' ' }, behavior: 'Sideways', invert: false } }), /Sideways/));
  it('merge with a token missing from the vocabulary', () =>
    throwsTokenizerError(() => Tokenizer.fromJSON({ ...tiny(), model: { ...(tiny().model as object), merges: ['a c'] } }), /merges\[0\].*"c"/));
  it('BPE dropout is refused', () => throwsTokenizerError(() => Tokenizer.fromJSON({ ...tiny(), model: { ...(tiny().model as object), dropout: 0.1 } }), /dropout/));
  it('unknown id in decode is named', () => throwsTokenizerError(() => Tokenizer.fromJSON(tiny()).decode([0, 17]), /unknown token id 17/));
  it('negative id in decode', () => throwsTokenizerError(() => Tokenizer.fromJSON(tiny()).decode([-1]), /unknown token id -1/));
  it('encode of a non-string', () => throwsTokenizerError(() => Tokenizer.fromJSON(tiny()).encode(42 as unknown as string), /expects a string/));

  it('missing file', async () => {
    await expect(Tokenizer.fromFile('/nonexistent/tokenizer.json')).rejects.toThrow(TokenizerError);
    await expect(Tokenizer.fromFile('/nonexistent/tokenizer.json')).rejects.toThrow(/\/nonexistent\/tokenizer\.json/);
  });

  it('model folder: bad tokenizer_config.json is named', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tok-'));
    writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tiny()));
    writeFileSync(path.join(dir, 'tokenizer_config.json'), '{oops');
    await expect(loadTokenizerFiles(dir)).rejects.toThrow(/tokenizer_config\.json: not valid JSON/);
  });

  it('chat: no template → clear error; a template that does not parse → error', () => {
    throwsTokenizerError(() => renderChatTemplate(undefined, [{ role: 'user', content: 'hi' }]), /no chat_template.*fallback/);
    throwsTokenizerError(() => renderChatTemplate('{% for %}', [{ role: 'user', content: 'hi' }]), /chat_template/);
    throwsTokenizerError(() => renderChatTemplate('{{ raise_exception("nope") }}', []), /nope/);
  });
});
