/**
 * Multiple-choice scoring with lm-evaluation-harness semantics (its `loglikelihood` requests and the
 * `multiple_choice` metrics): per choice, the summed log-probability of the continuation's tokens given the
 * context, and whether every one of them is the greedy (argmax) token; per task `acc` (the most likely choice is
 * the gold one) and `acc_norm` (the same after dividing each sum by the choice's length in UTF-8 bytes).
 *
 * Encoding follows the harness's `_encode_pair`: trailing whitespace of the context moves to the front of the
 * continuation; context ids = encode(context), continuation ids = encode(context + continuation) minus the
 * first |context ids| ids; an empty context is the one prefix id (the harness's `prefix_token_id`: BOS, else
 * EOS). No special tokens are added.
 *
 * The context is fed once; each choice continues from a copy of the state after it (saveState/loadState), so a
 * task costs |context| + Σ |continuation| tokens instead of Σ (|context| + |continuation|).
 */
import { InputError } from '../errors.ts';
import type { Model } from '../model.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { feedRows, type FeedOptions } from './feed.ts';
import { rowStats } from './nll.ts';

/** One multiple-choice question. */
export interface ChoiceTask {
  /** The text every choice continues (may be empty). */
  context: string;
  /** The continuations, as they follow the context (with their leading space, if any). */
  choices: string[];
  /** Index of the correct choice, when known. */
  gold?: number;
}

/** One choice's score. */
export interface ChoiceScore {
  /** Σ log p(continuation token | everything before it), in nats. */
  logprob: number;
  /** Whether every continuation token is the argmax of its row. */
  greedy: boolean;
  /** Continuation tokens. */
  tokens: number;
  /** UTF-8 bytes of the choice (acc_norm's divisor). */
  bytes: number;
}

/** One task's scores. */
export interface TaskScore {
  /** Per choice, in order. */
  choices: ChoiceScore[];
  /** argmax of the log-probabilities (the first on ties). */
  pred: number;
  /** argmax of the log-probabilities divided by byte length. */
  predNorm: number;
  /** The gold index, when given. */
  gold?: number;
  /** Context tokens (fed once). */
  contextTokens: number;
}

/** Options of {@link scoreTasks}. */
export interface ScoreOptions extends FeedOptions {
  /** The id that stands for an empty context (lm-evaluation-harness: BOS, else EOS). Needed only for empty contexts. */
  prefixTokenId?: number;
  /**
   * `fork` (default): feed the context once and continue each choice from a copy of its state. `full`: run each
   * choice's whole text from a fresh state with `forward` (what the harness does), to measure the saving.
   */
  strategy?: 'fork' | 'full';
  /** Called after each task. */
  onProgress?: (p: { done: number; total: number }) => void;
}

/** What {@link scoreTasks} measured. */
export interface ScoreResult {
  /** Per task, in order. */
  tasks: TaskScore[];
  /** Tasks with a gold index. */
  graded: number;
  /** Fraction of graded tasks whose pred is gold (NaN when none is graded). */
  acc: number;
  /** Fraction of graded tasks whose predNorm is gold. */
  accNorm: number;
  /** Tokens fed to the model in all. */
  tokensFed: number;
}

/** The ids of one (context, continuation) request. */
export interface EncodedPair {
  /** Context ids (fed once per task). */
  context: number[];
  /** Continuation ids (scored). */
  continuation: number[];
}

/**
 * The context and continuation ids of one request, as lm-evaluation-harness forms them.
 * @throws InputError when the continuation has no tokens of its own, or the context is empty and no prefix id is given
 */
export function encodePair(tokenizer: Tokenizer, context: string, continuation: string, prefixTokenId?: number): EncodedPair {
  if (context === '') {
    if (prefixTokenId === undefined) throw new InputError('an empty context needs a prefix token id (the tokenizer has no BOS or EOS)');
    const cont = tokenizer.encode(continuation);
    if (cont.length === 0) throw new InputError(`choice ${JSON.stringify(continuation)} has no tokens`);
    return { context: [prefixTokenId], continuation: cont };
  }
  const spaces = context.length - context.trimEnd().length;
  if (spaces > 0) {
    continuation = context.slice(context.length - spaces) + continuation;
    context = context.slice(0, context.length - spaces);
  }
  const whole = tokenizer.encode(context + continuation);
  const ctx = tokenizer.encode(context);
  const cont = whole.slice(ctx.length);
  if (cont.length === 0) throw new InputError(`choice ${JSON.stringify(continuation)} adds no tokens to its context`);
  return { context: ctx, continuation: cont };
}

function checkTask(t: ChoiceTask, i: number): void {
  const bad = (what: string): never => {
    throw new InputError(`task ${i}: ${what}`);
  };
  if (t === null || typeof t !== 'object') bad('expected an object with context and choices');
  if (typeof t.context !== 'string') bad('context must be a string');
  if (!Array.isArray(t.choices) || t.choices.length === 0) bad('choices must be a non-empty array of strings');
  t.choices.forEach((c, j) => typeof c === 'string' || bad(`choice ${j} is not a string`));
  if (t.gold !== undefined && !(Number.isInteger(t.gold) && t.gold >= 0 && t.gold < t.choices.length)) {
    bad(`gold must be an index in [0, ${t.choices.length - 1}], got ${JSON.stringify(t.gold)}`);
  }
}

function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** Scores one continuation given the row after its context (`first`) and the state after the context. */
async function scoreContinuation(model: Model, first: Float32Array, state: ReturnType<Model['createState']>, cont: number[], o: FeedOptions): Promise<{ logprob: number; greedy: boolean }> {
  const V = model.config.vocabSize;
  let logprob = 0;
  let greedy = true;
  const score = (row: Float32Array, target: number) => {
    const s = rowStats(row, V);
    logprob += row[target] - s.logSumExp;
    if (s.argmax !== target) greedy = false;
  };
  score(first, cont[0]);
  // Rows after cont[0 .. n−2] score cont[1 .. n−1]; the last token's own row predicts nothing.
  await feedRows(model, state, cont.slice(0, -1), 0, (t, row) => score(row, cont[t + 1]), o);
  return { logprob, greedy };
}

/**
 * Scores multiple-choice tasks (see the module comment for the rule). Memory: one state and a chunk of at most
 * `rowChunk` rows of logits per choice in `fork` (src/eval/feed.ts); each choice's (tokens × V) logits in `full`.
 * @throws InputError for a malformed task, a choice without tokens of its own, or an empty context without a prefix id
 */
export async function scoreTasks(model: Model, tokenizer: Tokenizer, tasks: readonly ChoiceTask[], o: ScoreOptions = {}): Promise<ScoreResult> {
  tasks.forEach(checkTask);
  const V = model.config.vocabSize;
  const strategy = o.strategy ?? 'fork';
  const out: TaskScore[] = [];
  let fed = 0;
  for (let i = 0; i < tasks.length; i++) {
    const task = tasks[i];
    let pairs: EncodedPair[];
    try {
      pairs = task.choices.map((c) => encodePair(tokenizer, task.context, c, o.prefixTokenId));
    } catch (e) {
      if (e instanceof InputError) throw new InputError(`task ${i}: ${e.message}`);
      throw e;
    }
    const scores: { logprob: number; greedy: boolean }[] = [];
    if (strategy === 'fork') {
      // Every pair of one task has the same context ids (encode(context) does not depend on the choice).
      const ctx = pairs[0].context;
      const state = model.createState();
      const last = (await feedRows(model, state, ctx, ctx.length, () => {}, o))!;
      fed += ctx.length;
      const saved = model.saveState(state);
      for (const p of pairs) {
        scores.push(await scoreContinuation(model, last, model.loadState(saved), p.continuation, o));
        fed += p.continuation.length - 1;
      }
    } else {
      for (const p of pairs) {
        o.signal?.throwIfAborted();
        const ids = [...p.context, ...p.continuation.slice(0, -1)];
        const logits = await model.forward(ids);
        fed += ids.length;
        let logprob = 0;
        let greedy = true;
        for (let j = 0; j < p.continuation.length; j++) {
          const off = (p.context.length - 1 + j) * V;
          const s = rowStats(logits, V, off);
          logprob += logits[off + p.continuation[j]] - s.logSumExp;
          if (s.argmax !== p.continuation[j]) greedy = false;
        }
        scores.push({ logprob, greedy });
      }
    }
    const choices = scores.map((s, j) => ({ ...s, tokens: pairs[j].continuation.length, bytes: new TextEncoder().encode(task.choices[j]).length }));
    const lls = choices.map((c) => c.logprob);
    out.push({
      choices,
      pred: argmax(lls),
      predNorm: argmax(choices.map((c) => c.logprob / c.bytes)),
      ...(task.gold !== undefined ? { gold: task.gold } : {}),
      contextTokens: pairs[0].context.length,
    });
    o.onProgress?.({ done: i + 1, total: tasks.length });
  }
  const graded = out.filter((t) => t.gold !== undefined);
  return {
    tasks: out,
    graded: graded.length,
    acc: graded.filter((t) => t.pred === t.gold).length / graded.length,
    accNorm: graded.filter((t) => t.predNorm === t.gold).length / graded.length,
    tokensFed: fed,
  };
}
