// The CLI on GGUF fixtures, spawned as a user would: generate's greedy ids equal the library's on the same file,
// info lists the GGUF tensor types, tokenize reads the tokenizer from the metadata, --mixer-eps reaches the model.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

  it('--mixer-eps: info reports it, score runs with it (= the library with the same mixerRmsEps), HF folders refuse it', async () => {
    const odd = join(REPO, 'fixtures/gguf/falcon-odd.gguf'); // layer-norm eps 1e-5
    const eps = async (flag: string[]) => JSON.parse((await cli(['info', '--model', odd, '--json', ...flag])).stdout).config.mixerRmsEps;
    expect(await eps([])).toBeCloseTo(1e-6, 12);
    expect(await eps(['--mixer-eps', 'llama.cpp'])).toBeCloseTo(1e-5, 12);
    expect(await eps(['--mixer-eps', '3e-6'])).toBeCloseTo(3e-6, 12);
    const dir = mkdtempSync(join(tmpdir(), 'fm-eps-'));
    try {
      const tasks = join(dir, 't.jsonl');
      writeFileSync(tasks, JSON.stringify({ context: 'The old man', choices: [' high', ' sea'], gold: 0 }) + '\n');
      const score = async (flag: string[]) => {
        const r = await cli(['score', '--model', odd, '--tasks', tasks, '--per-task', '--backend', 'reference', ...flag]);
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout).results[0].choices[0].logprob as number;
      };
      const [def, llama] = [await score([]), await score(['--mixer-eps', 'llama.cpp'])];
      const files = await loadModelTokenizer(odd);
      const ctx = files.tokenizer.encode('The old man'), next = files.tokenizer.encode(' high');
      expect(next).toHaveLength(1);
      for (const [mixerRmsEps, got] of [[undefined, def], ['llama.cpp', llama]] as const) {
        const m = await loadModel(odd, { backend: 'reference', mixerRmsEps });
        const logits = await m.forward(ctx);
        const row = logits.subarray((ctx.length - 1) * m.config.vocabSize);
        let mx = -Infinity, z = 0;
        for (const v of row) mx = Math.max(mx, v);
        for (const v of row) z += Math.exp(v - mx);
        expect(got, `logprob with mixerRmsEps ${mixerRmsEps}`).toBeCloseTo(row[next[0]] - mx - Math.log(z), 9);
      }
      expect(def).not.toBe(llama);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const hf = await cli(['generate', '--model', join(REPO, 'models/demo'), '--prompt', 'x', '--mixer-eps', 'llama.cpp']);
    expect(hf.code).not.toBe(0);
    expect(hf.stderr).toMatch(/--mixer-eps applies to .gguf files only/);
    const bad = await cli(['generate', '--model', odd, '--prompt', 'x', '--mixer-eps', 'huge']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--mixer-eps/);
  });
});
