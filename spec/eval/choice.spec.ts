// Multiple-choice scoring: the encoding follows lm-evaluation-harness's _encode_pair (checked here against the ids
// transformers' tokenizer gave in fixtures/eval/demo-tasks.json), forking the state after the context gives the
// scores of running every choice's full text (within the step/forward tolerance), acc and acc_norm follow their
// definitions, bad tasks are refused with the task named, and an abort stops the run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePair, InputError, loadModel, scoreTasks, Tokenizer, type ChoiceTask, type Model } from '../../src/index.ts';
import { REPO } from '../helpers/goldens.ts';

const FIX = join(REPO, 'fixtures/eval');
const tasksRef = JSON.parse(readFileSync(join(FIX, 'demo-tasks.json'), 'utf8'));
const tasks: ChoiceTask[] = readFileSync(join(FIX, 'tasks.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));

let tok: Tokenizer;
let model: Model;
beforeAll(async () => {
  tok = await Tokenizer.fromFile(join(REPO, 'models/demo/tokenizer.json'));
  model = await loadModel(join(REPO, 'models/demo'), { backend: 'wasm' });
});
afterAll(() => model?.dispose());

describe('encodePair', () => {
  it('gives the context and continuation ids transformers + the harness rule gave, for every fixture choice', () => {
    tasks.forEach((t, i) =>
      t.choices.forEach((c, j) => {
        const p = encodePair(tok, t.context, c, tasksRef.prefix_token_id);
        expect(p.context, `task ${i} choice ${j}`).toEqual(tasksRef.results[i].choices[j].context_ids);
        expect(p.continuation, `task ${i} choice ${j}`).toEqual(tasksRef.results[i].choices[j].continuation_ids);
      }),
    );
  });
  it('moves trailing whitespace of the context to the continuation', () => {
    expect(encodePair(tok, 'he had ', 'ever')).toEqual(encodePair(tok, 'he had', ' ever'));
  });
  it('refuses an empty context without a prefix id, and a choice that adds no tokens', () => {
    expect(() => encodePair(tok, '', 'x')).toThrow(InputError);
    expect(() => encodePair(tok, 'abc', '')).toThrow(/adds no tokens/);
  });
});

describe('scoreTasks', () => {
  it('fork (context once) = full (every choice from a fresh state), and feeds fewer tokens', async () => {
    const o = { prefixTokenId: tasksRef.prefix_token_id };
    const fork = await scoreTasks(model, tok, tasks, o);
    const full = await scoreTasks(model, tok, tasks, { ...o, strategy: 'full' });
    fork.tasks.forEach((t, i) =>
      t.choices.forEach((c, j) => {
        const f = full.tasks[i].choices[j];
        expect(Math.abs(c.logprob - f.logprob), `task ${i} choice ${j}: fork ${c.logprob} full ${f.logprob}`).toBeLessThanOrEqual(1e-4 + 1e-6 * Math.abs(f.logprob));
        expect(c.greedy).toBe(f.greedy);
      }),
    );
    expect(fork.tokensFed).toBeLessThan(full.tokensFed);
    // acc / acc_norm from their definitions, over the 11 graded tasks (the last has no gold).
    expect(fork.graded).toBe(11);
    const graded = fork.tasks.filter((t) => t.gold !== undefined);
    const byBytes = (t: (typeof graded)[number]) => {
      const v = t.choices.map((c) => c.logprob / c.bytes);
      return v.indexOf(Math.max(...v));
    };
    expect(fork.acc).toBe(graded.filter((t) => t.choices.map((c) => c.logprob).indexOf(Math.max(...t.choices.map((c) => c.logprob))) === t.gold).length / 11);
    expect(fork.accNorm).toBe(graded.filter((t) => byBytes(t) === t.gold).length / 11);
    // acc_norm divides by UTF-8 bytes, not UTF-16 units: " crème brûlée" is 13 units, 16 bytes (è û é: 2 each).
    expect(fork.tasks[8].choices[1].bytes).toBe(16);
  });

  it('refuses malformed tasks, naming the task', async () => {
    await expect(scoreTasks(model, tok, [{ context: 'a', choices: [] }])).rejects.toThrow(/task 0: choices/);
    await expect(scoreTasks(model, tok, [tasks[0], { context: 'a', choices: [' b'], gold: 1 }])).rejects.toThrow(/task 1: gold/);
    await expect(scoreTasks(model, tok, [{ context: 3 as unknown as string, choices: [' b'] }])).rejects.toThrow(/task 0: context/);
  });

  it('stops on abort with the signal reason, and reports progress per task', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    const run = scoreTasks(model, tok, tasks, {
      prefixTokenId: 0,
      signal: ac.signal,
      onProgress: (p) => {
        seen.push(p.done);
        if (p.done === 2) ac.abort(new Error('stop here'));
      },
    });
    await expect(run).rejects.toThrow('stop here');
    expect(seen).toEqual([1, 2]);
  });
});
