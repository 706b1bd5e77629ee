// src/eval against transformers (fixtures/eval, made by fixtures/make_eval_fixtures.py from models/demo):
// the streaming perplexity of a prefix of the held-out text equals the sum of transformers' per-position NLLs,
// the windowed rule with BOS equals transformers' direct computation of it, and every multiple-choice score
// (ids, summed log-probability, greedy flag) equals transformers'.
// Rule: |ours − HF| ≤ atol + rtol·|HF| with atol 1e-5 nats/token for means (both run f32 from the same bf16
// weights: measured ~1e-8), and 2e-4 + 1e-5·|HF| for a choice's summed log-probability (up to 11 tokens);
// a wrong position, target or window rule moves these by ≥ 1e-2.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, perplexity, scoreTasks, Tokenizer, type Backend, type ChoiceTask, type Model } from '../../src/index.ts';
import { REPO } from '../helpers/goldens.ts';

const FIX = join(REPO, 'fixtures/eval');
const stream = JSON.parse(readFileSync(join(FIX, 'demo-stream.json'), 'utf8'));
const windows = JSON.parse(readFileSync(join(FIX, 'demo-windows.json'), 'utf8'));
const tasksRef = JSON.parse(readFileSync(join(FIX, 'demo-tasks.json'), 'utf8'));
const hfNll = new Float32Array(new Uint8Array(readFileSync(join(FIX, 'demo-stream.nll.f32'))).buffer);
const tasks: ChoiceTask[] = readFileSync(join(FIX, 'tasks.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));

// The reference backend is ~40 ms a token on the demo model: it gets short prefixes.
const CASES: { backend: Backend; tokens: number; tasks: number }[] = [
  { backend: 'wasm', tokens: 1536, tasks: tasks.length },
  { backend: 'reference', tokens: 128, tasks: 3 },
];

function close(a: number, b: number, atol: number, rtol: number, what: string): void {
  expect(Math.abs(a - b), `${what}: ours ${a} vs transformers ${b}`).toBeLessThanOrEqual(atol + rtol * Math.abs(b));
}

let tok: Tokenizer;
let ids: number[];
beforeAll(async () => {
  tok = await Tokenizer.fromFile(join(REPO, 'models/demo/tokenizer.json'));
  ids = tok.encode(readFileSync(join(REPO, stream.text), 'utf8'));
});

describe.each(CASES)('eval = transformers, $backend backend', ({ backend, tokens, tasks: nTasks }) => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(join(REPO, 'models/demo'), { backend });
  });
  afterAll(() => model?.dispose());

  it('tokenizes the fixture text as transformers did', () => {
    expect(ids.length).toBe(stream.tokens);
  });

  it(`streaming perplexity of the first ${tokens} tokens = Σ transformers' per-position NLLs`, async () => {
    const r = await perplexity(model, ids.slice(0, tokens));
    let hf = 0;
    for (let t = 0; t < tokens - 1; t++) hf += hfNll[t];
    expect(r.count).toBe(tokens - 1);
    close(r.meanNll, hf / (tokens - 1), 1e-5, 0, 'mean NLL');
    close(r.perplexity, Math.exp(hf / (tokens - 1)), 1e-5 * r.perplexity, 0, 'perplexity');
  });

  // 8 windows; the reference backend's windowed path is checked against the direct rule in perplexity.spec.ts.
  it.skipIf(backend === 'reference')('windowed rule, ctx 128 with BOS 0 = transformers', async () => {
    const ref = windows.cases.find((c: { ctx: number }) => c.ctx === 128);
    const r = await perplexity(model, ids.slice(0, ref.tokens), { ctx: 128, bosTokenId: 0 });
    expect(r.count).toBe(ref.count);
    expect(r.windows).toBe(ref.windows);
    close(r.meanNll, ref.mean_nll, 1e-5, 0, 'mean NLL');
    close(r.meanNllStdErr, ref.mean_nll_stderr, 1e-5, 1e-3, 'standard error');
  });

  it(`multiple-choice scores of ${nTasks} tasks = transformers`, async () => {
    const r = await scoreTasks(model, tok, tasks.slice(0, nTasks), { prefixTokenId: tasksRef.prefix_token_id });
    for (let i = 0; i < nTasks; i++) {
      const ref = tasksRef.results[i];
      r.tasks[i].choices.forEach((c, j) => {
        const h = ref.choices[j];
        expect(c.tokens, `task ${i} choice ${j} continuation length`).toBe(h.continuation_ids.length);
        close(c.logprob, h.logprob, 2e-4, 1e-5, `task ${i} choice ${j} log-probability`);
        expect(c.greedy, `task ${i} choice ${j} greedy`).toBe(h.greedy);
      });
      expect(r.tasks[i].contextTokens).toBe(ref.choices[0].context_ids.length);
      const lls = ref.choices.map((c: { logprob: number }) => c.logprob);
      expect(r.tasks[i].pred).toBe(lls.indexOf(Math.max(...lls)));
    }
  });
});
