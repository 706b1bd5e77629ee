/**
 * Goldens from Python (`tokenizers` 0.23 / `transformers` 5.17), made by fixtures/tokenizer/make_tokenizer_goldens.py,
 * and llama.cpp's 46 Falcon vocab tests (HF ground truth, shared read-only data).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer, renderChatTemplate, type ChatMessage } from '../../src/tokenizer/index.ts';
import { TokenizerError } from '../../src/errors.ts';
import { FALCON_JSON, LLAMACPP_DIR, REPO_ROOT } from './oracle.ts';

interface Goldens {
  versions: Record<string, string>;
  encode: { text: string; ids: number[]; decoded: string; decodedSkip: string; transformersIds?: number[] }[];
  decode: { ids: number[]; decoded: string; decodedSkip: string; transformers?: string }[];
  surrogates: { text: string; ids?: number[]; error?: string };
  instruct: { renamed: Record<string, string>; encode: { text: string; ids: number[] }[] };
  chat: {
    bosToken: string;
    eosToken: string;
    templates: Record<string, string>;
    conversations: Record<string, ChatMessage[]>;
    renderings: { template: string; conversation: string; addGenerationPrompt: boolean; text?: string; ids?: number[]; error?: string }[];
  };
}

const goldens = JSON.parse(readFileSync(path.join(REPO_ROOT, 'fixtures/tokenizer/goldens.json'), 'utf8')) as Goldens;
const falcon = JSON.parse(readFileSync(FALCON_JSON, 'utf8'));
const tok = Tokenizer.fromJSON(falcon, FALCON_JSON);

/** The Falcon file with ids 7–11 renamed as in falcon-mamba-7b-instruct (same edit as the Python script). */
function instructTokenizer(): Tokenizer {
  const j = structuredClone(falcon);
  const vocab = j.model.vocab as Record<string, number>;
  const inverse = new Map(Object.entries(vocab).map(([k, v]) => [v, k]));
  for (const [id, name] of Object.entries(goldens.instruct.renamed)) {
    delete vocab[inverse.get(Number(id))!];
    vocab[name] = Number(id);
  }
  for (const t of j.added_tokens) if (goldens.instruct.renamed[t.id] !== undefined) t.content = goldens.instruct.renamed[t.id];
  return Tokenizer.fromJSON(j, 'instruct variant');
}

describe('llama.cpp Falcon vocab tests', () => {
  const inp = readFileSync(path.join(LLAMACPP_DIR, 'ggml-vocab-falcon.gguf.inp'), 'utf8').split('\n__ggml_vocab_test__\n');
  inp.pop(); // the text after the last separator is not a test
  const out = readFileSync(path.join(LLAMACPP_DIR, 'ggml-vocab-falcon.gguf.out'), 'utf8').split('\n');
  it('has the 46 cases', () => expect(inp.length).toBe(46));
  it('all 46 encode to llama.cpp / HF ids, and decode back', () => {
    const bad: string[] = [];
    inp.forEach((text, i) => {
      const expected = out[i].trim() === '' ? [] : out[i].trim().split(' ').map(Number);
      const ids = tok.encode(text);
      if (JSON.stringify(ids) !== JSON.stringify(expected)) bad.push(JSON.stringify(text));
      if (tok.decode(ids) !== text) bad.push('decode ' + JSON.stringify(text));
    });
    expect(bad).toEqual([]);
  });
});

describe(`Python goldens (tokenizers ${goldens.versions.tokenizers}, transformers ${goldens.versions.transformers})`, () => {
  it(`encode + decode ${goldens.encode.length} strings`, () => {
    expect(goldens.encode.length).toBeGreaterThan(1000);
    const bad = goldens.encode.filter(
      (g) => JSON.stringify(tok.encode(g.text)) !== JSON.stringify(g.ids) || tok.decode(g.ids) !== g.decoded || tok.decode(g.ids, { skipSpecialTokens: true }) !== g.decodedSkip,
    );
    expect(bad).toEqual([]);
    // transformers' PreTrainedTokenizerFast agreed with tokenizers on every one
    expect(goldens.encode.filter((g) => g.transformersIds !== undefined)).toEqual([]);
  });

  it(`decode ${goldens.decode.length} random id lists (partial UTF-8 → U+FFFD as Rust from_utf8_lossy)`, () => {
    const bad = goldens.decode.filter((g) => tok.decode(g.ids) !== g.decoded || tok.decode(g.ids, { skipSpecialTokens: true }) !== g.decodedSkip);
    expect(bad).toEqual([]);
  });

  it('lone surrogates: Python refuses them; we (like the N-API binding and TextEncoder) read U+FFFD', () => {
    expect(goldens.surrogates.error).toMatch(/TypeError/);
    expect(tok.encode('a\ud800b')).toEqual(tok.encode('a\ufffdb'));
    expect(tok.encode('\udc00')).toEqual(tok.encode('\ufffd'));
    expect(tok.encode('😀')).not.toEqual(tok.encode('\ufffd'));
  });

  it('instruct tokenizer (ids 7–11 renamed): `assistant` is a special token anywhere in text', () => {
    const inst = instructTokenizer();
    for (const g of goldens.instruct.encode) expect(inst.encode(g.text), g.text).toEqual(g.ids);
    expect(inst.tokenToId('<|im_start|>')).toBe(9);
    expect(inst.idToToken(7)).toBe('assistant');
  });
});

describe('chat templates rendered as transformers apply_chat_template', () => {
  const inst = instructTokenizer();
  const { templates, conversations, renderings, bosToken, eosToken } = goldens.chat;
  it(`${renderings.length} renderings`, () => {
    expect(renderings.length).toBeGreaterThanOrEqual(60);
    for (const r of renderings) {
      const label = `${r.template} / ${r.conversation} / agp=${r.addGenerationPrompt}`;
      const render = (): string => renderChatTemplate(templates[r.template], conversations[r.conversation], { addGenerationPrompt: r.addGenerationPrompt, bosToken, eosToken });
      if (r.error !== undefined) {
        expect(render, label).toThrow(TokenizerError);
        expect(render, label).toThrow(r.error.replace(/^TemplateError: /, ''));
      } else {
        const text = render();
        expect(text, label).toBe(r.text);
        expect(inst.encode(text), label).toEqual(r.ids);
      }
    }
  });
});
