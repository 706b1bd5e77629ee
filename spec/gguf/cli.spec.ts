// The CLI on GGUF fixtures, spawned as a user would: generate's greedy ids equal the library's on the same file,
// info lists the GGUF tensor types, tokenize reads the tokenizer from the metadata.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateIds, loadModel, loadModelTokenizer } from '../../src/index.ts';
import { runCli as cli } from '../helpers/cli.ts';
import { REPO } from '../helpers/goldens.ts';

const Q4KM = join(REPO, 'fixtures/gguf/falcon-wide.Q4_K_M.gguf');

describe('CLI with --model x.gguf', () => {
  it('generate: greedy ids equal the library on the same file', async () => {
    const r = await cli(['generate', '--model', Q4KM, '--prompt', 'The old man', '--max-tokens', '10', '--json', '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const files = await loadModelTokenizer(Q4KM);
    const model = await loadModel(Q4KM, { threads: 1 });
    try {
      const ids: number[] = [];
      // eos as the CLI takes it: the file's tokenizer.ggml.eos_token_id (11)
      for await (const e of generateIds(model, files.tokenizer.encode('The old man'), { maxTokens: 10, eosTokenIds: [11] })) ids.push(e.token);
      expect(out.tokens).toEqual(ids);
      expect(ids.length).toBe(10);
      expect(out.promptTokens).toEqual(files.tokenizer.encode('The old man'));
    } finally {
      await model.dispose();
    }
  });

  it('info lists the stored tensor types; tokenize uses the metadata tokenizer', async () => {
    const [i, t] = await Promise.all([cli(['info', '--model', Q4KM, '--json']), cli(['tokenize', '--model', join(REPO, 'fixtures/gguf/falcon-vocab.gguf'), '--json', 'Hello world'])]);
    expect(i.code).toBe(0);
    const info = JSON.parse(i.stdout);
    expect(Object.keys(info.ggmlTypes).sort()).toEqual(['F32', 'Q4_K', 'Q6_K']);
    expect(info.config.modelType).toBe('falcon_mamba');
    expect(t.code).toBe(0);
    expect(JSON.parse(t.stdout).ids).toEqual([9856, 1079]);
  });

  it('a GGUF without the model keys fails with one line naming the key', async () => {
    const r = await cli(['generate', '--model', join(REPO, 'fixtures/gguf/falcon-vocab.gguf'), '--prompt', 'x']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/falcon-vocab.gguf: metadata "mamba.attention.layer_norm_rms_epsilon"/);
  });
});
