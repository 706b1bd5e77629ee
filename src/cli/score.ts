/**
 * `falcon-mamba score --model M --tasks F.jsonl`: multiple-choice scoring with lm-evaluation-harness semantics
 * (src/eval/choice.ts), feeding each context once; `--speedup` also runs every choice's full text to measure the
 * saving. JSON on stdout; docs/eval.md explains the numbers.
 */
import process from 'node:process';
import { InputError } from '../errors.ts';
import { scoreTasks, type ChoiceTask, type ScoreResult } from '../eval/index.ts';
import { MODEL_OPTIONS, MODEL_OPTIONS_HELP, note, type Command } from './common.ts';
import { countBar, runEvalCommand } from './eval-common.ts';

const NAME = 'score';

const OPTIONS = {
  ...MODEL_OPTIONS,
  tasks: { type: 'string', short: 't' },
  speedup: { type: 'boolean' },
  'per-task': { type: 'boolean' },
} as const;

const HELP = `Usage: falcon-mamba score --model DIR --tasks FILE.jsonl [options]

Multiple-choice scoring as lm-evaluation-harness does it: per choice the summed log-probability of its tokens
after the context and whether each is the greedy token; acc (most likely choice is gold) and acc_norm (the same
after dividing by the choice's UTF-8 byte length). Each context is fed once and the state is copied per choice.

Each line of FILE.jsonl: {"context": "...", "choices": [" a", " b", ...], "gold": 0} (gold optional; a choice is
the exact text that follows the context, usually with its leading space).

Options:
  --tasks, -t PATH       the tasks (JSON Lines)
  --speedup              also feed every choice's full text from a fresh state (what the harness does) and report
                         the time of both and the speed-up
  --per-task             include every task's per-choice scores in the JSON
${MODEL_OPTIONS_HELP}

Example: falcon-mamba score --model models/demo --tasks fixtures/eval/tasks.jsonl --speedup`;

/** Parses a JSON Lines tasks file; errors name the file and line. */
export function parseTasks(text: string, where: string): ChoiceTask[] {
  const tasks: ChoiceTask[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new InputError(`${where}:${i + 1}: not JSON: ${(e as Error).message}`);
    }
    const t = v as ChoiceTask;
    const bad = (what: string) => new InputError(`${where}:${i + 1}: ${what}`);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad('expected an object {"context", "choices", "gold"?}');
    if (typeof t.context !== 'string') throw bad('"context" must be a string');
    if (!Array.isArray(t.choices) || t.choices.length === 0 || !t.choices.every((c) => typeof c === 'string')) throw bad('"choices" must be a non-empty array of strings');
    if (t.gold !== undefined && !(Number.isInteger(t.gold) && t.gold >= 0 && t.gold < t.choices.length)) throw bad(`"gold" must be an index in [0, ${t.choices.length - 1}]`);
    tasks.push({ context: t.context, choices: t.choices, ...(t.gold !== undefined ? { gold: t.gold } : {}) });
  });
  if (tasks.length === 0) throw new InputError(`${where}: no tasks`);
  return tasks;
}

export const scoreCommand: Command = {
  name: NAME,
  summary: 'multiple-choice scoring (lm-evaluation-harness loglikelihood, acc, acc_norm)',
  help: HELP,
  run(argv) {
    return runEvalCommand(
      { name: NAME, argv, options: OPTIONS, help: HELP, input: { flag: 'tasks', usage: '--tasks FILE.jsonl is required', what: 'tasks file' }, prepare: parseTasks },
      async ({ v, dir, dtype, input: tasks, model, files, loadMs, signal }) => {
        const prefixTokenId = files.bosTokenId ?? files.eosTokenId;
        const run = async (strategy: 'fork' | 'full'): Promise<{ r: ScoreResult; ms: number }> => {
          const bar = await countBar(strategy === 'fork' ? 'score' : 'score (full texts)');
          const t0 = performance.now();
          try {
            const r = await scoreTasks(model, files.tokenizer, tasks, { prefixTokenId, strategy, signal, onProgress: (p) => bar.update(p.done, p.total, '') });
            return { r, ms: performance.now() - t0 };
          } finally {
            bar.stop();
          }
        };
        const fork = await run('fork');
        const full = v.speedup ? await run('full') : undefined;
        const r = fork.r;
        let maxDiff = 0;
        if (full) r.tasks.forEach((t, i) => t.choices.forEach((c, j) => (maxDiff = Math.max(maxDiff, Math.abs(c.logprob - full.r.tasks[i].choices[j].logprob)))));
        const out = {
          model: dir,
          backend: model.backend,
          dtype,
          tasks: r.tasks.length,
          graded: r.graded,
          acc: r.graded > 0 ? r.acc : null,
          acc_norm: r.graded > 0 ? r.accNorm : null,
          tokensFed: r.tokensFed,
          ms: Math.round(fork.ms),
          ...(full
            ? { full: { tokensFed: full.r.tokensFed, ms: Math.round(full.ms), maxLogprobDiff: maxDiff }, speedup: full.ms / fork.ms, tokenRatio: full.r.tokensFed / r.tokensFed }
            : {}),
          ...(v['per-task'] ? { results: r.tasks } : {}),
        };
        process.stdout.write(JSON.stringify(out, null, 1) + '\n');
        note(`load ${(loadMs / 1000).toFixed(2)} s · ${r.tasks.length} tasks in ${(fork.ms / 1000).toFixed(2)} s` + (full ? ` · full texts ${(full.ms / 1000).toFixed(2)} s · speed-up ${(full.ms / fork.ms).toFixed(2)}×` : ''));
        return 0;
      },
    );
  },
};
