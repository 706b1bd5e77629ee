/**
 * The scheduler: one loop owns the model; requests wait in a FIFO queue and run as jobs, each job's choices
 * as {@link Sequence}s with their own sampler, stop and abort state.
 *
 * Continuous batching. Each turn of the loop first lets aborted jobs leave, then does some prompt work, then
 * advances every generating sequence of every job by one token through `Model.stepBatch`, in groups of at most
 * `maxBatch` ({@link stepAll}): one pass over the weights serves the whole group, which is what makes several
 * streams cost little more than one (decode is bound by reading the weights). Sequences join a batch the turn
 * after their prompt is in and leave it the turn they end; a Mamba state is a fixed-size object of its own, so
 * nothing is re-packed when the batch changes. Between turns the loop yields to the event loop, so responses
 * stream and new requests are accepted while it runs.
 *
 * Prompt work is bounded while streams run: a newcomer's prompt is fed in slices of about `prefillSliceMs`
 * (sized from the measured prefill rate, a multiple of 4 tokens, at least 64) between two decode steps, so running streams
 * keep flowing at one step plus one slice per token however long the prompt; with nothing generating, each
 * prompt gets whole `prefillChunk`s. The slices do not change the answer: the engine prefills in tiles of 4
 * tokens, so splitting a prompt at multiples of 4 from the same split points gives the same bits.
 *
 * Aborts. A shared `stepBatch` cannot take one request's signal (it would fail the others), so it takes the
 * scheduler's own `signal` (the server's shutdown); a request that is aborted leaves between steps (its token
 * of the step in flight is dropped) and the others go on. A prompt's prefill takes the request's signal.
 *
 * Prompts reuse the longest cached prefix (src/server/cache.ts). Snapshots are taken at the job's
 * boundaries (message boundaries of a chat) and every `cacheEvery` tokens. The last prompt token is always
 * fed, never restored, because its logits are what the first generated token is drawn from: a snapshot
 * holds a state, not logits, so continuing from it gives exactly the tokens of feeding the whole prompt.
 */
import type { Model, ModelState } from '../model.ts';
import { cloneState } from '../state.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { randomSeed } from '../generate/sampler.ts';
import type { StateCache } from './cache.ts';
import { ApiError } from './errors.ts';
import { logprobOf, Sequence, type SequenceSpec, type TokenLogprob, type TokenOut } from './sequence.ts';

/**
 * The smallest prefill slice while streams run: the wasm engine's prefill chunk (src/wasm/plan.ts), the length at
 * which prefill reaches its rate (each weight is read once per chunk). Smaller slices would cost the newcomer
 * nearly a decode step per few tokens: measured on the small shape (bf16, 2 threads), 4-token slices made a
 * 1.5k-token prompt's first token 3.7× later than unsliced (bench/server.ts batch).
 */
const MIN_SLICE = 64;

/** What a request asks the scheduler to run. */
export interface JobSpec {
  /** The prompt's ids (at least one). */
  promptIds: number[];
  /** Prefix lengths worth a snapshot (chat message boundaries), ascending. */
  boundaries?: readonly number[];
  /** Choices to generate from one prompt (the state after the prompt is forked). */
  n: number;
  /** Sampling and stopping of every choice. */
  sequence: SequenceSpec;
  /** Also score the prompt: the log-prob of every prompt token given the ones before (no cache then). */
  promptLogprobs?: number | null;
  /** Aborts the job before its next model call. */
  signal?: AbortSignal;
  /** Called with each token of each choice as it is generated (streaming). */
  onToken?: (choice: number, out: TokenOut) => void;
  /**
   * After a single choice has ended: the ids of the next boundary beyond the reply (a chat's history with the
   * reply as the next message), or null. When they extend what the state holds, the loop feeds the rest and
   * stores a snapshot there, so the conversation's next turn starts from it.
   */
  after?: (reply: Sequence) => number[] | null;
}

/** A finished job. */
export interface JobResult {
  /** The choices, in order. */
  choices: Sequence[];
  /** Prompt tokens. */
  promptTokens: number;
  /** Prompt tokens restored from the cache instead of fed. */
  cachedTokens: number;
  /** Per prompt token (with `promptLogprobs`): null for the first, else its log-prob. */
  promptLogprobs?: Array<TokenLogprob | null>;
  /** Milliseconds from admission to the first generated token. */
  ttftMs: number;
}

/** Options of a {@link Scheduler}. */
export interface SchedulerOptions {
  /** Jobs that may wait beyond the `parallel` running ones; one more gets 429 (default 64). */
  maxQueue?: number;
  /** Jobs running at once, their sequences decoded together (default 8). */
  parallel?: number;
  /**
   * Sequences one decode step advances in one `Model.stepBatch` call (default 8); more run in groups of this
   * many. 1: one sequence per call, i.e. sequential stepping. (The wasm engine takes up to 16 in one pass.)
   */
  maxBatch?: number;
  /** Tokens per prefill call when nothing is generating (default 512); aborts and other jobs are served between chunks. */
  prefillChunk?: number;
  /**
   * While sequences are generating, the prompt work done between two decode steps is held to about this many
   * milliseconds (default 50; at least one slice of 64 tokens a turn), so a long prompt arriving does not stall
   * the running streams.
   */
  prefillSliceMs?: number;
  /** Aborts the model call in flight, whatever job it serves (the server's shutdown); its jobs end as aborted. */
  signal?: AbortSignal;
  /** Snapshot every this many prompt tokens (default 512; 0 = only at boundaries). */
  cacheEvery?: number;
  /** The state cache, if any. */
  cache?: StateCache | null;
}

/** Live counters for the metrics endpoint. */
export interface SchedulerStats {
  promptTokens: number;
  cachedTokens: number;
  generatedTokens: number;
  /** Wall time spent in model calls of the decode loop (ms), for tokens/s. */
  decodeMs: number;
  decodeTokens: number;
  jobs: number;
  failed: number;
  aborted: number;
  /** `stepBatch` calls of the decode loop. */
  decodeSteps: number;
  /** How many of them advanced B sequences, by B (index 0 unused). */
  batchSizes: number[];
}

class Job {
  state: ModelState | null = null;
  fed = 0;
  cached = 0;
  phase: 'load' | 'prefill' | 'decode' | 'done' = 'load';
  sequences: Sequence[] = [];
  lastLogits: Float32Array | null = null;
  promptLogprobs: Array<TokenLogprob | null> | undefined;
  admittedAt = 0;
  ttftMs = 0;
  readonly seed: number;
  constructor(
    readonly spec: JobSpec,
    readonly resolve: (r: JobResult) => void,
    readonly reject: (e: unknown) => void,
    private readonly schedulerSignal: AbortSignal | undefined,
  ) {
    this.seed = spec.sequence.seed ?? randomSeed();
  }
  /** The request's signal, or the scheduler's (the server's shutdown), has fired. */
  get aborted(): boolean {
    return this.spec.signal?.aborted === true || this.schedulerSignal?.aborted === true;
  }
}

/** The FIFO queue and the loop that owns the model. */
export class Scheduler {
  readonly stats: SchedulerStats = { promptTokens: 0, cachedTokens: 0, generatedTokens: 0, decodeMs: 0, decodeTokens: 0, jobs: 0, failed: 0, aborted: 0, decodeSteps: 0, batchSizes: [] };
  private readonly queue: Job[] = [];
  private readonly active: Job[] = [];
  private running: Promise<void> | null = null;
  private closed = false;
  private readonly maxQueue: number;
  private readonly parallel: number;
  private readonly chunk: number;
  private readonly every: number;
  private readonly cache: StateCache | null;
  private readonly maxBatch: number;
  private readonly sliceMs: number;
  private readonly signal: AbortSignal | undefined;
  /** Measured prefill cost (ms per token, a running mean over recent calls), to size the slices; null: none yet. */
  private prefillMsPerToken: number | null = null;

  constructor(
    readonly model: Model,
    readonly tokenizer: Tokenizer,
    options: SchedulerOptions = {},
  ) {
    this.maxQueue = options.maxQueue ?? 64;
    this.parallel = Math.max(1, options.parallel ?? 8);
    this.maxBatch = Math.max(1, options.maxBatch ?? 8);
    this.chunk = Math.max(1, options.prefillChunk ?? 512);
    this.sliceMs = Math.max(0, options.prefillSliceMs ?? 50);
    this.signal = options.signal;
    this.every = options.cacheEvery ?? 512;
    this.cache = options.cache ?? null;
  }

  /** Jobs waiting to start. */
  get queued(): number {
    return this.queue.length;
  }

  /** Jobs running. */
  get activeJobs(): number {
    return this.active.length;
  }

  /** Sequences generating right now. */
  get sequences(): number {
    return this.active.reduce((a, j) => a + j.sequences.filter((s) => s.finish === null).length, 0);
  }

  /**
   * Queues a job; resolves when it has ended (also when aborted: its sequences say `abort`).
   * @throws ApiError 429 when the queue is full, 503 once the server is closing
   */
  submit(spec: JobSpec): Promise<JobResult> {
    if (this.closed) throw new ApiError(503, 'the server is shutting down', null, 'server_error');
    // Would this job wait beyond the running ones, and are `maxQueue` jobs already waiting?
    const waiting = this.active.length + this.queue.length + 1 - this.parallel;
    if (waiting > this.maxQueue) {
      throw new ApiError(429, `the server is busy: ${this.queue.length} requests are already waiting (--max-queue ${this.maxQueue})`, null, 'rate_limit_error', 'queue_full', 1);
    }
    return new Promise<JobResult>((resolve, reject) => {
      this.queue.push(new Job(spec, resolve, reject, this.signal));
      this.stats.jobs++;
      this.running ??= this.loop().finally(() => {
        this.running = null;
      });
    });
  }

  /**
   * Stops accepting jobs; waits for the running and queued ones to end (abort them through their signals
   * first to end sooner).
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    for (;;) {
      while (this.active.length < this.parallel && this.queue.length > 0) {
        const job = this.queue.shift()!;
        job.admittedAt = performance.now();
        this.active.push(job);
      }
      if (this.active.length === 0) return;
      await this.turn();
      // Let responses stream and requests arrive, whether or not the model's calls yielded.
      await new Promise<void>((r) => (globalThis.setImmediate ? globalThis.setImmediate(r) : setTimeout(r, 0)));
    }
  }

  private async turn(): Promise<void> {
    // Between steps: an aborted job leaves (its sequences end with `abort`); nothing of it runs again.
    for (const job of [...this.active]) if (job.aborted) await this.guard(job, () => this.finish(job));
    await this.promptWork();
    const seqs: Array<[Job, Sequence]> = [];
    for (const job of this.active) {
      if (job.phase !== 'decode') continue;
      for (const s of job.sequences) if (s.pending !== null) seqs.push([job, s]);
    }
    if (seqs.length > 0) await this.stepAll(seqs);
    for (const job of [...this.active]) {
      if (job.phase === 'decode' && job.sequences.every((s) => s.finish !== null)) await this.guard(job, () => this.finish(job));
    }
  }

  /** Whether any sequence is waiting for its next token. */
  private get generating(): boolean {
    return this.active.some((j) => j.phase === 'decode' && j.sequences.some((s) => s.pending !== null));
  }

  /**
   * The prompt work of one turn, oldest job first. With nothing generating, every job still reading its prompt
   * gets one whole chunk; once something generates, the turn's prompt work stops after about `sliceMs` (at least
   * one slice), each slice sized from the measured prefill rate.
   */
  private async promptWork(): Promise<void> {
    const t0 = performance.now();
    let sliced = 0;
    for (const job of [...this.active]) {
      while (job.phase === 'load' || job.phase === 'prefill') {
        if (!this.generating) {
          await this.guard(job, () => this.advancePrompt(job, this.chunk, Infinity));
          if (job.phase !== 'load') break;
          continue;
        }
        const left = this.sliceMs - (performance.now() - t0);
        if (sliced > 0 && left <= 0) return;
        if (job.phase === 'prefill') sliced++;
        await this.guard(job, () => this.advancePrompt(job, this.sliceTokens(left), performance.now() + left));
      }
    }
  }

  /**
   * Prompt tokens that take about `ms` to prefill: a multiple of 4 in [MIN_SLICE, prefillChunk] (MIN_SLICE before
   * any measurement).
   */
  private sliceTokens(ms: number): number {
    const per = this.prefillMsPerToken;
    const n = per === null ? 0 : Math.floor(Math.max(0, ms) / per / 4) * 4;
    return Math.max(Math.min(MIN_SLICE, this.chunk), Math.min(n, this.chunk));
  }

  /**
   * Advances each sequence by its pending token: one `stepBatch` call per group of at most `maxBatch`. The
   * call takes the scheduler's signal, not a request's (one request's abort must not fail its neighbours); a
   * job aborted while the call ran drops its token and leaves at the next turn. A call that fails fails every
   * job in its group (their states may be part-way advanced), and the loop goes on with the others.
   */
  private async stepAll(seqs: Array<[Job, Sequence]>): Promise<void> {
    const V = this.model.config.vocabSize;
    for (let g = 0; g < seqs.length; g += this.maxBatch) {
      const group = seqs.slice(g, g + this.maxBatch).filter(([job]) => job.phase === 'decode');
      if (group.length === 0) continue;
      const t0 = performance.now();
      let logits: Float32Array;
      try {
        logits = await this.model.stepBatch(group.map(([, s]) => s.state), group.map(([, s]) => s.pending!), { signal: this.signal });
      } catch (e) {
        for (const job of new Set(group.map(([j]) => j))) {
          if (job.aborted) await this.guard(job, () => this.finish(job));
          else this.fail(job, e);
        }
        continue;
      }
      this.stats.decodeMs += performance.now() - t0;
      this.stats.decodeTokens += group.length;
      this.stats.decodeSteps++;
      this.stats.batchSizes[group.length] = (this.stats.batchSizes[group.length] ?? 0) + 1;
      group.forEach(([job, s], b) => {
        if (job.aborted) s.end('abort');
        else this.emit(job, s, s.accept(logits.subarray(b * V, (b + 1) * V)));
      });
    }
  }

  private emit(job: Job, s: Sequence, out: TokenOut): void {
    this.stats.generatedTokens++;
    try {
      job.spec.onToken?.(s.index, out);
    } catch {
      // A failing consumer (a closed stream) must not stop the loop; its abort signal ends the job.
    }
  }

  /** Runs one step of a job; an error fails that job (its request answers it) and the loop goes on. */
  private async guard(job: Job, f: () => Promise<void>): Promise<void> {
    if (job.phase === 'done') return;
    try {
      await f();
    } catch (e) {
      if (job.aborted) await this.finish(job); // the AbortError of its own signal
      else this.fail(job, e);
    }
  }

  private fail(job: Job, e: unknown): void {
    if (job.phase === 'done') return;
    job.phase = 'done';
    this.remove(job);
    this.stats.failed++;
    job.reject(e);
  }

  private remove(job: Job): void {
    const i = this.active.indexOf(job);
    if (i >= 0) this.active.splice(i, 1);
  }

  /**
   * One unit of prompt work: the cache lookup, or one prefill call of at most `tokens` tokens (prompt scoring:
   * single steps until `deadline`, at most 16).
   */
  private async advancePrompt(job: Job, tokens: number, deadline: number): Promise<void> {
    const ids = job.spec.promptIds;
    if (job.aborted) return this.finish(job);
    const signal = job.spec.signal;
    if (job.phase === 'load') {
      const scoring = job.spec.promptLogprobs !== undefined && job.spec.promptLogprobs !== null;
      const hit = scoring || !this.cache ? null : await this.cache.lookup(ids, ids.length - 1);
      job.state = hit ? hit.state : this.model.createState();
      job.fed = job.cached = hit ? hit.length : 0;
      if (scoring) job.promptLogprobs = [null];
      job.phase = 'prefill';
      this.stats.cachedTokens += job.cached;
      this.stats.promptTokens += ids.length;
      return;
    }
    const state = job.state!;
    if (job.promptLogprobs) {
      // Scoring: one token at a time, so that every position's logits are seen (constant memory).
      const k = job.spec.promptLogprobs!;
      const start = job.fed;
      const end = Math.min(ids.length, job.fed + 16);
      for (; job.fed < end; job.fed++) {
        if (job.fed > start && performance.now() > deadline) break;
        const logits = await this.model.step(state, ids[job.fed], { signal });
        if (job.fed + 1 < ids.length) job.promptLogprobs.push(logprobOf(logits, ids[job.fed + 1], k));
        else job.lastLogits = logits;
      }
    } else {
      let end = Math.min(ids.length, job.fed + tokens);
      for (const b of job.spec.boundaries ?? []) if (b > job.fed && b < end) end = b;
      if (this.every > 0) end = Math.min(end, (Math.floor(job.fed / this.every) + 1) * this.every);
      const t0 = performance.now();
      const logits = await this.model.prefill(state, ids.slice(job.fed, end), { signal });
      this.notePrefill(end - job.fed, performance.now() - t0);
      job.fed = end;
      if (end === ids.length) job.lastLogits = logits;
      const snapshot = end < ids.length && ((this.every > 0 && end % this.every === 0) || (job.spec.boundaries ?? []).includes(end));
      if (snapshot && this.cache) this.cache.put(ids, end, state);
    }
    if (job.fed === ids.length) this.startDecode(job);
  }

  /**
   * Folds one prefill call into the ms-per-token estimate, recent calls weighing most. Only calls of 16 tokens
   * or more count: a call's fixed cost would make small slices look dear per token, and the slices stay small.
   */
  private notePrefill(tokens: number, ms: number): void {
    if (tokens < 16) return;
    const per = ms / tokens;
    this.prefillMsPerToken = this.prefillMsPerToken === null ? per : 0.7 * this.prefillMsPerToken + 0.3 * per;
  }

  /** The prompt is in: fork the state for each choice and draw every choice's first token. */
  private startDecode(job: Job): void {
    const logits = job.lastLogits!;
    job.lastLogits = null;
    const n = job.spec.n;
    for (let i = 0; i < n; i++) {
      const state = i === n - 1 ? job.state! : cloneState(job.state!);
      job.sequences.push(new Sequence(i, state, job.spec.promptIds, job.spec.sequence, this.tokenizer, job.seed));
    }
    job.state = null;
    job.ttftMs = performance.now() - job.admittedAt;
    job.phase = 'decode';
    for (const s of job.sequences) {
      if (s.spec.maxTokens === 0) s.end('length');
      else this.emit(job, s, s.accept(logits));
    }
  }

  private async finish(job: Job): Promise<void> {
    const aborted = job.aborted;
    if (aborted) {
      for (const s of job.sequences) s.end('abort');
      this.stats.aborted++;
    }
    job.phase = 'done';
    this.remove(job);
    job.resolve({
      choices: job.sequences,
      promptTokens: job.spec.promptIds.length,
      cachedTokens: job.cached,
      promptLogprobs: job.promptLogprobs,
      ttftMs: job.ttftMs,
    });
    // After the answer went out, before the next job: the conversation's next turn will look for this one.
    if (!aborted && this.cache && job.spec.after && job.sequences.length === 1) {
      try {
        await this.snapshotAfter(job, job.sequences[0]);
      } catch {
        // Only an optimization: the next turn feeds the reply itself.
      }
    }
  }

  /** Feeds the reply's last token and the template's closing text, and snapshots the next turn's prefix. */
  private async snapshotAfter(job: Job, s: Sequence): Promise<void> {
    if (s.finish === 'abort' || s.tokens.length === 0) return;
    const next = job.spec.after!(s);
    if (!next) return;
    const held = [...job.spec.promptIds, ...s.tokens.slice(0, -1)];
    if (next.length <= held.length || next.length > held.length + 64) return;
    for (let i = 0; i < held.length; i++) if (next[i] !== held[i]) return;
    await this.model.prefill(s.state, next.slice(held.length));
    this.cache!.put(next, next.length, s.state);
  }
}
