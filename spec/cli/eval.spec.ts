// `falcon-mamba perplexity` and `score` end to end on the demo model: the JSON equals the library's result, the
// saved log-probabilities compared with the same run give KLD 0, bad input is one line with exit status 1 or 2.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, perplexity, Tokenizer } from '../../src/index.ts';
import { runCli as cli } from '../helpers/cli.ts';
import { REPO } from '../helpers/goldens.ts';

const tmp = mkdtempSync(join(tmpdir(), 'fm-eval-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const M = ['--model', 'models/demo'];
const F = ['--file', 'fixtures/demo/heldout.txt'];

describe('falcon-mamba perplexity', () => {
  it('prints the library figures as JSON; --save-logits then --kld against the same run gives 0', async () => {
    const saved = join(tmp, 'base.topk');
    const a = await cli(['perplexity', ...M, ...F, '--tokens', '300', '--save-logits', saved, '--top-k', '4']);
    expect(a.code, a.stderr).toBe(0);
    const ja = JSON.parse(a.stdout);
    const tok = await Tokenizer.fromFile(join(REPO, 'models/demo/tokenizer.json'));
    const ids = tok.encode(readFileSync(join(REPO, 'fixtures/demo/heldout.txt'), 'utf8')).slice(0, 300);
    const model = await loadModel(join(REPO, 'models/demo'));
    const lib = await perplexity(model, ids);
    await model.dispose();
    expect(ja).toMatchObject({ mode: 'stream', tokens: 300, predictions: 299 });
    expect(Math.abs(ja.meanNll - lib.meanNll)).toBeLessThanOrEqual(1e-12);
    expect(Math.abs(ja.perplexityStdErr - lib.perplexityStdErr)).toBeLessThanOrEqual(1e-9);
    const b = await cli(['perplexity', ...M, ...F, '--tokens', '300', '--kld', saved]);
    expect(b.code, b.stderr).toBe(0);
    const jb = JSON.parse(b.stdout);
    expect(jb.kld).toMatchObject({ positions: 299, meanKld: 0, maxKld: 0, top1Agreement: 1, meanLogitError: 0 });
    // Another --ctx than the saved run: refused, naming the file.
    const c = await cli(['perplexity', ...M, ...F, '--tokens', '300', '--ctx', '64', '--kld', saved]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(new RegExp(`^falcon-mamba: ${saved.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*mode`, 'm')); // after the load's progress lines
  });

  it('windowed mode reports windows and BOS', async () => {
    const r = await cli(['perplexity', ...M, ...F, '--tokens', '200', '--ctx', '64']);
    expect(r.code, r.stderr).toBe(0);
    // The demo tokenizer adds no BOS: bosTokenId null; 3 windows of 64, 31 predictions each.
    expect(JSON.parse(r.stdout)).toMatchObject({ mode: 'windows', ctx: 64, windows: 3, bosTokenId: null, predictions: 93 });
  });

  it('bad input: one line, exit 2 for usage, 1 for a bad file', async () => {
    const u = await cli(['perplexity', ...M]);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/--file PATH is required/);
    const x = await cli(['perplexity', ...M, ...F, '--ctx', '2']);
    expect(x.code).toBe(2);
    const bad = join(tmp, 'bad.topk');
    writeFileSync(bad, 'not a file at all');
    const k = await cli(['perplexity', ...M, ...F, '--kld', bad]);
    expect(k.code).toBe(1);
    expect(k.stderr.trim().split('\n')).toHaveLength(1);
    expect(k.stderr).toMatch(/bad\.topk: not a falcon-mamba log-probabilities file/);
  });
});

describe('falcon-mamba score', () => {
  it('reports acc, acc_norm and, with --speedup, the full-text run and the ratio', async () => {
    const r = await cli(['score', ...M, '--tasks', 'fixtures/eval/tasks.jsonl', '--speedup']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ tasks: 12, graded: 11 });
    expect(j.acc).toBeGreaterThanOrEqual(0);
    expect(j.full.tokensFed).toBeGreaterThan(j.tokensFed);
    expect(j.full.maxLogprobDiff).toBeLessThanOrEqual(1e-3);
    expect(j.speedup).toBeGreaterThan(0);
  });

  it('names the file and line of a bad task', async () => {
    const f = join(tmp, 'tasks.jsonl');
    writeFileSync(f, '{"context": "a", "choices": [" b"]}\n\n{"context": "a", "choices": []}\n');
    const r = await cli(['score', ...M, '--tasks', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tasks\.jsonl:3: "choices" must be a non-empty array/);
  });
});

// Both commands start through one function (src/cli/eval-common.ts runEvalCommand): the same help, flag and
// input-file handling, before any weights load.
describe.each([
  { cmd: 'perplexity', input: '--file', usage: /--file PATH is required/ },
  { cmd: 'score', input: '--tasks', usage: /--tasks FILE\.jsonl is required/ },
])('falcon-mamba $cmd: the shared preamble', ({ cmd, input, usage }) => {
  it('--help (exit 0), --model and the input flag required, bad --threads / --dtype (exit 2), an unreadable input named (exit 1)', async () => {
    const h = await cli([cmd, '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(new RegExp(`^Usage: falcon-mamba ${cmd} --model DIR`));
    const noModel = await cli([cmd, input, 'x']);
    expect([noModel.code, noModel.stderr]).toEqual([2, expect.stringMatching(/--model DIR is required/)]);
    const noInput = await cli([cmd, ...M]);
    expect([noInput.code, noInput.stderr]).toEqual([2, expect.stringMatching(usage)]);
    const threads = await cli([cmd, ...M, input, 'x', '--threads', '0']);
    expect([threads.code, threads.stderr]).toEqual([2, expect.stringMatching(/--threads/)]);
    const dtype = await cli([cmd, ...M, input, 'x', '--dtype', 'q3']);
    expect([dtype.code, dtype.stderr]).toEqual([2, expect.stringMatching(/q3/)]);
    const missing = join(tmp, 'absent.txt');
    const r = await cli([cmd, ...M, input, missing]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${missing}: cannot read`);
  });
});
