// perplexity(): the streaming pass equals the NLL of one fresh-state forward; the windowed mode equals a direct
// computation of llama-perplexity's rule (windows of ctx ids from a fresh state, the first replaced by BOS, positions
// ctx/2 … ctx−2 scored, the tail dropped), written here from forward() independently of src/eval's feeding; the
// standard errors follow their formulas; bad input, abort and progress behave. Both backends.
// Rule: |ours − direct| ≤ 1e-5 nats/token (step vs forward differ by ~1e-7 in f32).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, loadModel, nextTokenNll, perplexity, rowStats, Tokenizer, type Backend, type Model } from '../../src/index.ts';
import { REPO } from '../helpers/goldens.ts';

let ids: number[];
beforeAll(async () => {
  const tok = await Tokenizer.fromFile(join(REPO, 'models/demo/tokenizer.json'));
  ids = tok.encode(readFileSync(join(REPO, 'fixtures/demo/heldout.txt'), 'utf8'));
});

/** llama-perplexity's rule, directly: per-position NLLs of every scored position. */
async function directRule(model: Model, ids: number[], ctx: number, bos?: number): Promise<number[]> {
  const V = model.config.vocabSize;
  const out: number[] = [];
  for (let w = 0; w < Math.floor(ids.length / ctx); w++) {
    const win = ids.slice(w * ctx, (w + 1) * ctx);
    if (bos !== undefined) win[0] = bos;
    const logits = await model.forward(win);
    for (let j = Math.floor(ctx / 2); j <= ctx - 2; j++) out.push(rowStats(logits, V, j * V).logSumExp - logits[j * V + ids[w * ctx + j + 1]]);
  }
  return out;
}

const CASES: { backend: Backend; T: number; ctx: number }[] = [
  { backend: 'wasm', T: 300, ctx: 64 },
  { backend: 'reference', T: 50, ctx: 16 },
];

describe.each(CASES)('perplexity, $backend backend', ({ backend, T, ctx }) => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(join(REPO, 'models/demo'), { backend });
  });
  afterAll(() => model?.dispose());

  it('streaming pass = NLL of one forward from a fresh state', async () => {
    const x = ids.slice(0, Math.min(T, 120));
    const r = await perplexity(model, x);
    const f = nextTokenNll(await model.forward(x), x, model.config.vocabSize);
    expect(r.count).toBe(f.count);
    expect(Math.abs(r.meanNll - f.mean), `ours ${r.meanNll} forward ${f.mean}`).toBeLessThanOrEqual(1e-5);
    expect(r.mode).toEqual({ kind: 'stream' });
  });

  for (const bos of [undefined, 0]) {
    it(`windowed ctx ${ctx} over ${T} ids (tail of ${T % ctx} dropped), BOS ${bos ?? 'none'} = the rule computed directly`, async () => {
      const x = ids.slice(0, T);
      const direct = await directRule(model, x, ctx, bos);
      const r = await perplexity(model, x, { ctx, bosTokenId: bos });
      const n = direct.length;
      const mean = direct.reduce((a, b) => a + b, 0) / n;
      const se = Math.sqrt((direct.reduce((a, b) => a + b * b, 0) / n - mean * mean) / (n - 1));
      expect(r.windows).toBe(Math.floor(T / ctx));
      expect(r.count).toBe(Math.floor(T / ctx) * (ctx - Math.floor(ctx / 2) - 1));
      expect(r.count).toBe(n);
      expect(Math.abs(r.meanNll - mean), `ours ${r.meanNll} direct ${mean}`).toBeLessThanOrEqual(1e-5);
      expect(Math.abs(r.meanNllStdErr - se)).toBeLessThanOrEqual(1e-5);
      expect(Math.abs(r.perplexityStdErr - r.perplexity * r.meanNllStdErr)).toBeLessThanOrEqual(1e-9 * r.perplexity);
    });
  }
});

describe('perplexity: input, abort, progress', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(join(REPO, 'models/demo'), { backend: 'wasm' });
  });
  afterAll(() => model?.dispose());

  it('refuses too few ids, a bad ctx, too short a text for the rule, ids outside the vocabulary, a bad k', async () => {
    await expect(perplexity(model, [5])).rejects.toThrow(InputError);
    await expect(perplexity(model, ids.slice(0, 100), { ctx: 3 })).rejects.toThrow(/ctx must be an integer ≥ 4/);
    await expect(perplexity(model, ids.slice(0, 100), { ctx: 64 })).rejects.toThrow(/needs at least 128 tokens, got 100/);
    await expect(perplexity(model, [1, 2, 4096])).rejects.toThrow(/token 2 is id 4096/);
    await expect(perplexity(model, ids.slice(0, 10), { saveTopK: 0 })).rejects.toThrow(/saveTopK/);
    await expect(perplexity(model, ids.slice(0, 200), { ctx: 64, bosTokenId: 9999 })).rejects.toThrow(/bosTokenId/);
  });

  it('reports progress with the running perplexity, ending at total', async () => {
    const seen: { done: number; total: number; perplexity: number }[] = [];
    const r = await perplexity(model, ids.slice(0, 100), { progressEvery: 16, onProgress: (p) => seen.push(p) });
    expect(seen.map((p) => p.done)).toEqual([16, 32, 48, 64, 80, 96, 99]);
    expect(seen.every((p) => p.total === 99)).toBe(true);
    expect(seen.at(-1)!.perplexity).toBeCloseTo(r.perplexity, 10);
  });

  it('an abort rejects with the signal reason', async () => {
    const ac = new AbortController();
    const run = perplexity(model, ids.slice(0, 400), { signal: ac.signal, progressEvery: 8, onProgress: (p) => p.done >= 40 && ac.abort(new Error('enough')) });
    await expect(run).rejects.toThrow('enough');
    const pre = new AbortController();
    pre.abort();
    await expect(perplexity(model, ids.slice(0, 10), { signal: pre.signal })).rejects.toThrow();
  });
});
