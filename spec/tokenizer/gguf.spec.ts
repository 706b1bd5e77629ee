// The tokenizer of a GGUF file (src/tokenizer/gguf.ts) against the tokenizer.json tokenizer: fixtures/gguf/
// falcon-vocab.gguf holds Falcon's vocabulary as llama.cpp's converter writes it (make_gguf_fixtures.py); its ids
// must equal the tokenizer.json ids on the project's Python goldens and on llama.cpp's 46 Falcon vocab tests.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenizerError } from '../../src/errors.ts';
import { readGgufHeader } from '../../src/io/gguf.ts';
import { ggufTokenizerFiles, ggufTokenizerJson } from '../../src/tokenizer/gguf.ts';
import { applyChatTemplate, Tokenizer } from '../../src/tokenizer/index.ts';
import { FALCON_JSON, LLAMACPP_DIR, REPO_ROOT } from './oracle.ts';

const header = await readGgufHeader(path.join(REPO_ROOT, 'fixtures/gguf/falcon-vocab.gguf'));
const files = ggufTokenizerFiles(header.metadata, 'falcon-vocab.gguf');
const fromJson = Tokenizer.fromJSON(JSON.parse(readFileSync(FALCON_JSON, 'utf8')), FALCON_JSON);
const goldens = JSON.parse(readFileSync(path.join(REPO_ROOT, 'fixtures/tokenizer/goldens.json'), 'utf8'));

describe('GGUF tokenizer (Falcon vocabulary)', () => {
  it('has the same vocabulary size and special tokens as tokenizer.json', () => {
    expect(files.tokenizer.vocabSize).toBe(fromJson.vocabSize);
    expect([...files.tokenizer.specialIds].sort((a, b) => a - b)).toEqual([...fromJson.specialIds].sort((a, b) => a - b));
    expect(files.eosTokenId).toBe(11);
    expect(files.eosToken).toBe('<|endoftext|>');
  });

  it(`encodes the ${goldens.encode.length} Python goldens to the same ids, and decodes them the same`, () => {
    const bad = (goldens.encode as { text: string; ids: number[]; decoded: string; decodedSkip: string }[]).filter(
      (g) => JSON.stringify(files.tokenizer.encode(g.text)) !== JSON.stringify(g.ids) || files.tokenizer.decode(g.ids) !== g.decoded ||
        files.tokenizer.decode(g.ids, { skipSpecialTokens: true }) !== g.decodedSkip,
    );
    expect(bad.map((g) => g.text)).toEqual([]);
  });

  it("encodes llama.cpp's 46 Falcon vocab tests to llama.cpp's ids", () => {
    const inp = readFileSync(path.join(LLAMACPP_DIR, 'ggml-vocab-falcon.gguf.inp'), 'utf8').split('\n__ggml_vocab_test__\n');
    inp.pop();
    const out = readFileSync(path.join(LLAMACPP_DIR, 'ggml-vocab-falcon.gguf.out'), 'utf8').split('\n');
    expect(inp.length).toBe(46);
    const bad = inp.filter((text, i) => JSON.stringify(files.tokenizer.encode(text)) !== JSON.stringify(out[i].trim() === '' ? [] : out[i].trim().split(' ').map(Number)));
    expect(bad).toEqual([]);
  });

  it('carries the chat template, rendered as from tokenizer_config.json', () => {
    expect(files.chatTemplate).toBe(goldens.chat.templates.chatml);
    const text = applyChatTemplate(files, [{ role: 'user', content: 'Hi there!' }], { addGenerationPrompt: true });
    expect(text).toBe('<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n');
  });

  it('refuses a tokenizer it cannot run, naming the key', () => {
    const m = new Map(header.metadata);
    m.set('tokenizer.ggml.model', 'llama');
    expect(() => ggufTokenizerJson(m, 'x.gguf')).toThrow(/x.gguf: tokenizer.ggml.model "llama" is not supported/);
    const p = new Map(header.metadata);
    p.set('tokenizer.ggml.pre', 'qwen2');
    expect(() => ggufTokenizerJson(p, 'x.gguf')).toThrow(TokenizerError);
    const t = new Map(header.metadata);
    t.set('tokenizer.ggml.token_type', new Int32Array(3));
    expect(() => ggufTokenizerJson(t, 'x.gguf')).toThrow(/token_type" must be an integer array with one entry per token \(65024\)/);
    const e = new Map(header.metadata);
    e.set('tokenizer.ggml.eos_token_id', 70000);
    expect(() => ggufTokenizerFiles(e, 'x.gguf')).toThrow(/eos_token_id" = 70000 is not a token id below 65024/);
  });
});
