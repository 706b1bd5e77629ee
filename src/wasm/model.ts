/**
 * The wasm backend's runtime: the Mamba-1 / FalconMamba forward pass on the SIMD kernels of `assembly/`
 * (docs/kernels.md), over the parts laid out by src/wasm/plan.ts and filled by src/wasm/load.ts. This file owns
 * the state slots, the dispatch of each linear layer to its dtype's kernel (and of large ones to the pool), the
 * block, and `run` over chunks and parts.
 *
 * States made by `createState` live in one of a few state slots in the memory (their arrays are views of it), so
 * a call on them copies nothing; any other state (more than the slots, deserialized, another model's of the same
 * shape) is copied into the scratch slot at the start of a call and back at the end. Either way any number of
 * states and models can be interleaved. With several parts a state cannot be one view, so each part copies its
 * layers' slice of the state in at the start of a call and out at the end (for the 7B, 2 × 40 MB per call
 * against 14.5 GB of weights streamed); the residual stream h (L, H) is copied from one part's scratch to the
 * next's between layer ranges.
 * `prefill`/`forward` run in chunks of `chunkSize` tokens through the same scratch (constant memory; the conv and
 * SSM state carry across chunks exactly as across calls). `step` allocates only the logits it returns.
 * Threads: kernels take byte offsets and `…Rows` kernels compute a row (or channel) slice, so one worker pool,
 * whose workers hold a kernel instance over every part's memory, splits every large matmul, the conv and the
 * scan (src/wasm/threads.ts).
 */
import type { ModelConfig } from '../config.ts';
import { InputError } from '../errors.ts';
import { CallQueue, checkAllLogits, checkBatch, checkId, checkIds, checkState, Pacer, stateFloats, throwIfAborted, zeroState, type CallOptions, type Model, type ModelState, type PrefillOptions, type TraceHook } from '../model.ts';
import { loadState, saveState } from '../state.ts';
import type { Kernels, SimdBuild } from './kernels.ts';
import { f32 } from './memory.ts';
import { bytesPerToken, MAX_BATCH, rowOffset, type Matrix, type StateSlot, type WasmPlan } from './plan.ts';
import { runRows, type JobKernel } from './jobs.js';
import { jobId, ThreadPool, type JobName } from './threads.ts';

/** Matrices with fewer weights than this run on the calling thread alone (a hand-off costs a few µs). */
const PARALLEL_MIN_WEIGHTS = 1 << 15;

/** Batched decode: byte offsets of two u32 tables (one entry a row) giving each row's layer state, conv and ssm. */
interface BatchTables {
  convTable: number;
  ssmTable: number;
}

/** How {@link WasmModel} `linear` runs a matrix: which rows, and what its L input rows are. */
interface LinearOptions {
  /** First row of the matrix to run (default 0; even for q8/q4/qk). */
  rowStart?: number;
  /** Rows to run from `rowStart` (default: all). */
  rows?: number;
  /** q8/q4/qk: the input is already quantized in the scratch (the second half of in_proj). */
  xQuantized?: boolean;
  /**
   * The L rows are one token each of L sequences (batched decode): they take the `…BatchRows` kernels where the
   * dtype has one (bf16, q8, q4; one row against up to 4 tokens, the matrix read from memory once for all L):
   * q8/q4 rows get the one-token decode kernel's bits, bf16 rows the prefill tile's summation order.
   */
  batch?: boolean;
}

/** One part of a loaded model: its plan, its memory and the kernel instance over that memory. */
export interface WasmPart {
  readonly plan: WasmPlan;
  readonly memory: WebAssembly.Memory;
  readonly k: Kernels;
  /** The part's index (its memory's index in the thread pool). */
  readonly index: number;
  /** The row-sliced kernels of `k` by job id (src/wasm/jobs.js `jobKernels`). */
  readonly jobs: readonly (JobKernel | null)[];
}

/** The wasm implementation of {@link Model}. Create it with `loadModel(dir, { backend: 'wasm' })`. */
export class WasmModel implements Model {
  readonly backend = 'wasm' as const;
  private disposed = false;
  /** Calls in flight, one at a time: they share each part's scratch. */
  private readonly queue = new CallQueue();
  /** The event loop's turns, kept across calls: many short calls in a row yield as one long one does. */
  private readonly pacer = new Pacer();
  private readonly freeSlots: number[];
  /** Returns a slot to the pool once both of its views are unreachable. */
  private readonly slotRegistry = new FinalizationRegistry<{ slot: number; live: number }>((t) => {
    if (--t.live === 0 && !this.disposed) this.freeSlots.push(t.slot);
  });
  private liveParts: readonly WasmPart[];
  /** The part holding the embeddings, and the one holding norm_f + lm_head. */
  private readonly embedPart: WasmPart;
  private readonly headPart: WasmPart;

  constructor(
    readonly config: ModelConfig,
    /** The parts, in forward order of their layers (one for a model that fits in 4 GiB). */
    parts: readonly WasmPart[],
    private readonly pool: ThreadPool | null = null,
    /** Why the model runs on fewer threads than asked (workers could not start), or null. */
    readonly threadNotice: string | null = null,
    /** Which build of the kernels runs (src/wasm/kernels.ts). */
    readonly simd: SimdBuild = 'plain',
  ) {
    this.liveParts = parts;
    this.embedPart = parts.find((p) => p.plan.embeddings)!;
    this.headPart = parts.find((p) => p.plan.lmHead)!;
    const slots = parts.length === 1 ? parts[0].plan.slots : [];
    this.freeSlots = slots.map((_, i) => slots.length - 1 - i);
  }

  /** The parts (one wasm memory each), in forward order; empty once disposed. */
  get parts(): readonly WasmPart[] {
    return this.liveParts;
  }

  /** The slot a state lives in (its arrays are this memory's slot views), or null for a state kept outside. */
  private slotOf(state: ModelState): StateSlot | null {
    if (this.liveParts.length !== 1) return null;
    const { memory, plan } = this.liveParts[0];
    if (state.conv.buffer !== memory.buffer || state.ssm.buffer !== memory.buffer) return null;
    for (const slot of plan.slots) {
      if (state.conv.byteOffset === slot.conv && state.ssm.byteOffset === slot.ssm) return slot;
    }
    return null;
  }

  /** Bytes of wasm memory, all parts together (weights + scratch + state slots). */
  get memoryBytes(): number {
    return this.liveParts.reduce((a, p) => a + p.plan.bytes, 0);
  }

  /**
   * Weight bytes one decoded token streams from memory: every matrix of every layer, norm_f and lm_head, and one
   * row of the embeddings (the per-channel vectors are counted too). The numerator of "fraction of the
   * bandwidth ceiling" in the bench.
   */
  get bytesPerToken(): number {
    return bytesPerToken(this.config, this.liveParts.map((p) => p.plan));
  }

  /**
   * A zeroed state. While one of the model's state slots is free (one-part models), its `conv` and `ssm` are
   * views into the wasm memory (so `step` copies nothing); the slot is returned to the pool when the state and
   * both arrays have been garbage-collected (so keep the state, not a `subarray` of its arrays, for as long as
   * you use it). Otherwise a plain state, copied in and out on each call. Both behave the same.
   */
  createState(): ModelState {
    const free = this.disposed ? undefined : this.freeSlots.pop();
    if (free === undefined) return zeroState(this.config);
    const { memory, plan } = this.liveParts[0];
    const n = stateFloats(this.config);
    const slot = plan.slots[free];
    const state: ModelState = { conv: f32(memory, slot.conv, n.conv).fill(0), ssm: f32(memory, slot.ssm, n.ssm).fill(0), position: 0 };
    const token = { slot: free, live: 2 };
    this.slotRegistry.register(state.conv, token);
    this.slotRegistry.register(state.ssm, token);
    return state;
  }

  forward(ids: ArrayLike<number>, options: CallOptions = {}): Promise<Float32Array> {
    return this.run(this.createState(), ids, true, options.signal);
  }

  async prefill(state: ModelState, ids: ArrayLike<number>, options: PrefillOptions = {}): Promise<Float32Array> {
    checkIds(ids, this.config.vocabSize); // before ids.length is read
    return this.run(state, ids, checkAllLogits(options, ids.length, this.config.vocabSize), options.signal);
  }

  step(state: ModelState, id: number, options: CallOptions = {}): Promise<Float32Array> {
    return this.queue.run(async () => {
      checkId(id, this.config.vocabSize);
      return this.runNow(state, [id], false, options.signal);
    });
  }

  stepBatch(states: readonly ModelState[], ids: ArrayLike<number>, options: CallOptions = {}): Promise<Float32Array> {
    return this.queue.run(() => this.stepBatchNow(states, ids, options.signal));
  }

  saveState(state: ModelState): Uint8Array {
    return saveState(this.config, state);
  }

  loadState(bytes: Uint8Array): ModelState {
    return loadState(this.config, bytes);
  }

  /** Threads the matmuls run on (the calling thread included). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  dispose(): void {
    this.disposed = true;
    this.queue.close();
    this.liveParts = [];
    this.pool?.dispose();
  }

  /** {@link dispose}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /**
   * Runs row-sliced kernel `job` with `args` (its arguments before r0, r1) over rows [0, rows): split across the
   * pool when there is one and the work is large enough (`weights` of it; bounds multiples of `align`), else on
   * this thread alone.
   */
  private rows(part: WasmPart, job: JobName, args: number[], rows: number, weights: number, align = 2): Promise<void> | undefined {
    if (this.pool && rows >= 2 * align && weights >= PARALLEL_MIN_WEIGHTS) return this.pool.rows(job, args, rows, part.index, align);
    runRows(part.jobs[jobId(job)]!, args, 0, rows);
  }

  /**
   * out (L, outF) = x (L, inF) @ m ᵀ (+ bias), picking the kernel of the matrix's dtype; a promise only while
   * the pool's workers are still at it (await it before the next kernel). Rows and batched decode: {@link LinearOptions}.
   */
  private linear(part: WasmPart, out: number, x: number, m: Matrix, bias: number, L: number, opts: LinearOptions = {}): Promise<void> | undefined {
    const { rowStart = 0, rows = m.rows, xQuantized = false } = opts;
    const batch = opts.batch === true && L > 1;
    const { ptr: W, scales, mins } = rowOffset(m, rowStart);
    const b = bias ? bias + rowStart * 4 : 0;
    const weights = rows * m.cols;
    if (m.dtype === 'qk') {
      // GGUF Q4_1 / Q5_1 / K-quants (assembly/qk.ts): the q8 activation plus its per-16 sums for the minimums.
      const s = part.plan.scratch;
      if (!xQuantized) {
        part.k.quantizeActivationQ8(s.xq, s.xd, x, L, m.cols);
        part.k.activationSums16(s.xs, s.xq, s.xd, L, m.cols);
      }
      return this.rows(part, 'linearQKRows', [out, s.xq, s.xd, s.xs, W, scales, mins, b, L, m.cols, rows, m.group!], rows, weights);
    }
    if (m.dtype === 'q8' || m.dtype === 'q4') {
      const s = part.plan.scratch;
      const job = m.dtype === 'q8' ? (batch ? 'linearQ8BatchRows' : 'linearQ8Rows') : batch ? 'linearQ4BatchRows' : 'linearQ4Rows';
      const args = [out, s.xq, s.xd, W, scales, b, L, m.cols, rows];
      // A prefill's activation is quantized by token ranges across the pool too (rows are independent).
      const q = xQuantized ? undefined : this.rows(part, 'quantizeActivationQ8Rows', [s.xq, s.xd, x, L, m.cols], L, L * m.cols, 1);
      return q ? q.then(() => this.rows(part, job, args, rows, weights)) : this.rows(part, job, args, rows, weights);
    }
    if (m.dtype === 'bf16') return this.rows(part, batch ? 'linearBf16BatchRows' : 'linearBf16Rows', [out, x, W, b, L, m.cols, rows, m.rows], rows, weights);
    return this.rows(part, m.dtype === 'f32' ? 'linearF32Rows' : 'linearF16Rows', [out, x, W, b, L, m.cols, rows], rows, weights);
  }

  /**
   * While {@link trace} runs: records rows × cols f32 values at byte offset `ptr` of a part's memory (a column
   * window [col0, col0+cols) of rows of `stride` floats) under a trace name. Null otherwise: the hot path pays
   * one test.
   */
  private tracer: ((part: WasmPart, name: string, ptr: number, rows: number, cols: number, stride?: number, col0?: number) => void) | null = null;

  /**
   * A forward pass from a fresh state calling `hook` with the intermediates this engine holds, under the
   * oracle's names (src/oracle/names.ts), each (L, …) over all L tokens: embeddings; per layer input, norm,
   * mixer.in_proj.x / z, mixer.conv1d.out (conv and silu are fused: no pre_silu), mixer.x_proj.out and its dt/B/C
   * (raw, and normed for FalconMamba), mixer.dt_proj.out, mixer.gated (the fused scan's output), mixer.out_proj.out,
   * output, and the final mixer.conv_state / mixer.ssm_state; then norm_f and logits. What it does not hold shows
   * as "only in B" in `compare` against the reference's trace.
   */
  trace(ids: ArrayLike<number>, hook: TraceHook): Promise<void> {
    return this.queue.run(() => this.traceNow(ids, hook));
  }

  private async traceNow(ids: ArrayLike<number>, hook: TraceHook): Promise<void> {
    this.checkUsable();
    const parts = new Map<string, { cols: number; chunks: Float32Array[] }>();
    this.tracer = (part, name, ptr, rows, cols, stride = cols, col0 = 0) => {
      const v = new Float32Array(rows * cols);
      const src = f32(part.memory, ptr, rows * stride);
      for (let r = 0; r < rows; r++) v.set(src.subarray(r * stride + col0, r * stride + col0 + cols), r * cols);
      const entry = parts.get(name) ?? { cols, chunks: [] };
      entry.chunks.push(v);
      parts.set(name, entry);
    };
    const state = zeroState(this.config);
    let logits: Float32Array;
    try {
      logits = await this.runNow(state, ids, true);
    } finally {
      this.tracer = null;
    }
    const { dInner: E, dState: N, dConv: K, vocabSize: V } = this.config;
    for (const [name, { cols, chunks }] of parts) {
      const rows = chunks.reduce((a, ch) => a + ch.length / cols, 0);
      const all = new Float32Array(rows * cols);
      let at = 0;
      for (const ch of chunks) {
        all.set(ch, at);
        at += ch.length;
      }
      hook(name, all, [rows, cols]);
      // The final states follow each layer's output, as in the reference's trace order.
      const m = /^layers\.(\d+)\.output$/.exec(name);
      if (m) {
        const i = Number(m[1]);
        hook(`layers.${i}.mixer.conv_state`, state.conv.slice(i * E * (K - 1), (i + 1) * E * (K - 1)), [E, K - 1]);
        hook(`layers.${i}.mixer.ssm_state`, state.ssm.slice(i * E * N, (i + 1) * E * N), [E, N]);
      }
    }
    hook('logits', logits, [ids.length, V]);
  }

  /**
   * One Mamba block over the L rows in the part's scratch `h` (the wasm twin of reference `mambaBlock`): layer
   * `j` of the part. The rows are L tokens of one sequence whose state is at `st` (a slot, or the part's scratch
   * state for its own layers), or, for batched decode, one token of each of L sequences whose layer states are
   * found through `st`'s offset tables.
   */
  private async block(part: WasmPart, j: number, L: number, st: StateSlot | BatchTables): Promise<void> {
    const c = this.config;
    const k = part.k;
    const { dModel: Dm, dInner: E, dState: N, dConv: K, dtRank: R } = c;
    const w = part.plan.layers[j];
    const s = part.plan.scratch;
    const W = R + 2 * N;
    const batch = 'convTable' in st;
    const conv = batch ? st.convTable : st.conv + j * E * (K - 1) * 4;
    const ssm = batch ? st.ssmTable : st.ssm + j * E * N * 4;
    const t = this.tracer;
    const tr = t && ((name: string, ptr: number, rows: number, cols: number, stride?: number, col0?: number) => t(part, name, ptr, rows, cols, stride, col0));
    const p = `layers.${part.plan.spec.layer0 + j}.`;
    tr?.(p + 'input', s.h, L, Dm);
    await this.rows(part, 'rmsNormRows', [s.u, s.h, w.norm, L, Dm, c.normEps], L, L * Dm, 1); // by token ranges
    tr?.(p + 'norm', s.u, L, Dm);
    // in_proj as two matmuls over its two row halves, so x and z land contiguous (L, E) each.
    if (s.xz) {
      // q8/q4 with odd E: row E starts mid-pair, so run the whole matrix and split its output.
      await this.linear(part, s.xz, s.u, w.inProj, w.inProjBias, L, { batch });
      k.copyRows(s.x, s.xz, L, E, 2 * E);
      k.copyRows(s.z, s.xz + E * 4, L, E, 2 * E);
    } else {
      await this.linear(part, s.x, s.u, w.inProj, w.inProjBias, L, { rows: E, batch });
      await this.linear(part, s.z, s.u, w.inProj, w.inProjBias, L, { rowStart: E, rows: E, xQuantized: true, batch }); // the x of in_proj is already quantized (q8/q4)
    }
    tr?.(p + 'mixer.in_proj.x', s.x, L, E);
    tr?.(p + 'mixer.in_proj.z', s.z, L, E);
    // The conv (+ silu) and later the scan, split by channel ranges (channels are independent; bounds multiples of 4).
    await this.rows(part, batch ? 'causalConv1dSiluBatchRows' : 'causalConv1dSiluRows', [s.xc, s.x, w.convWeight, w.convBias, conv, L, E, K], E, E * K * L, 4);
    tr?.(p + 'mixer.conv1d.out', s.xc, L, E);
    await this.linear(part, s.dbc, s.xc, w.xProj, 0, L, { batch });
    if (tr) {
      tr(p + 'mixer.x_proj.out', s.dbc, L, W);
      tr(p + 'mixer.x_proj.dt', s.dbc, L, R, W, 0);
      tr(p + 'mixer.x_proj.B', s.dbc, L, N, W, R);
      tr(p + 'mixer.x_proj.C', s.dbc, L, N, W, R + N);
    }
    if (c.dtBCNorm) {
      k.dtBCRmsNorm(s.dbc, L, R, N, c.mixerRmsEps);
      tr?.(p + 'mixer.x_proj.dt_normed', s.dbc, L, R, W, 0);
      tr?.(p + 'mixer.x_proj.B_normed', s.dbc, L, N, W, R);
      tr?.(p + 'mixer.x_proj.C_normed', s.dbc, L, N, W, R + N);
    }
    k.copyRows(s.dtr, s.dbc, L, R, W);
    await this.linear(part, s.delta, s.dtr, w.dtProj, w.dtProjBias, L, { batch });
    tr?.(p + 'mixer.dt_proj.out', s.delta, L, E);
    const B = s.dbc + R * 4;
    const C = s.dbc + (R + N) * 4;
    await this.rows(part, batch ? 'selectiveScanBatchRows' : 'selectiveScanRows', [s.y, s.xc, s.delta, w.A, B, C, w.D, s.z, ssm, L, E, N, W], E, E * N * L, 4);
    tr?.(p + 'mixer.gated', s.y, L, E);
    await this.linear(part, s.o, s.y, w.outProj, w.outProjBias, L, { batch });
    tr?.(p + 'mixer.out_proj.out', s.o, L, Dm);
    k.residualAdd(s.h, s.o, L * Dm);
    tr?.(p + 'output', s.h, L, Dm);
  }

  /** Looks up ids[at .. at+L) in the embedding table into the first part's scratch h (L, H). */
  private embed(ids: ArrayLike<number>, at: number, L: number): void {
    const ep = this.embedPart;
    const Dm = this.config.dModel;
    const s = ep.plan.scratch;
    const idv = new Int32Array(ep.memory.buffer, s.ids, L);
    for (let t = 0; t < L; t++) idv[t] = ids[at + t];
    const e = ep.plan.embeddings!;
    const k = ep.k;
    if (e.dtype === 'bf16') k.embedBf16(s.h, e.ptr, s.ids, L, Dm, e.rows);
    else if (e.dtype === 'f32') k.embedF32(s.h, e.ptr, s.ids, L, Dm);
    else if (e.dtype === 'q8') k.embedQ8(s.h, e.ptr, e.scales, s.ids, L, Dm);
    else if (e.dtype === 'q4') k.embedQ4(s.h, e.ptr, e.scales, s.ids, L, Dm);
    else if (e.dtype === 'qk') k.embedQK(s.h, e.ptr, e.scales, e.mins!, s.ids, L, Dm, e.group!);
    else k.embedF16(s.h, e.ptr, s.ids, L, Dm);
    this.tracer?.(ep, 'embeddings', s.h, L, Dm);
  }

  /** Copies the residual stream h (L, H) from one part's scratch to another's. */
  private handOver(from: WasmPart, to: WasmPart, L: number): WasmPart {
    if (from !== to) f32(to.memory, to.plan.scratch.h, L * this.config.dModel).set(f32(from.memory, from.plan.scratch.h, L * this.config.dModel));
    return to;
  }

  /** Copies each part's layers' slice of `state` into (`into`) or out of that part's scratch state. */
  private moveState(state: ModelState, into: boolean): void {
    const { dInner: E, dState: N, dConv: K } = this.config;
    for (const part of this.liveParts) {
      const { layer0, layer1 } = part.plan.spec;
      if (layer1 === layer0) continue;
      const s = part.plan.scratch;
      const conv = f32(part.memory, s.conv, (layer1 - layer0) * E * (K - 1));
      const ssm = f32(part.memory, s.ssm, (layer1 - layer0) * E * N);
      const sc = state.conv.subarray(layer0 * E * (K - 1), layer1 * E * (K - 1));
      const ss = state.ssm.subarray(layer0 * E * N, layer1 * E * N);
      if (into) {
        conv.set(sc);
        ssm.set(ss);
      } else {
        sc.set(conv);
        ss.set(ssm);
      }
    }
  }

  /** {@link stepBatch} in groups of at most the plan's batch (src/wasm/plan.ts `MAX_BATCH`), one pass each. */
  private async stepBatchNow(states: readonly ModelState[], ids: ArrayLike<number>, signal?: AbortSignal): Promise<Float32Array> {
    this.checkUsable();
    const c = this.config;
    checkBatch(states, ids, c);
    throwIfAborted(signal);
    const V = c.vocabSize;
    const out = new Float32Array(states.length * V);
    const G = this.maxBatch;
    for (let g0 = 0; g0 < states.length; g0 += G) await this.batchPass(states.slice(g0, g0 + G), Array.prototype.slice.call(ids, g0, g0 + G), out.subarray(g0 * V));
    return out;
  }

  /** Sequences one pass of batched decode takes. */
  private get maxBatch(): number {
    return Math.min(MAX_BATCH, this.liveParts[0].plan.chunkSize);
  }

  /**
   * One pass of batched decode: row b of every activation is sequence b's token. The matrix products take the S
   * rows together (each weight read serves every sequence); the conv and the scan run per row on that sequence's
   * own state, found through the part's offset tables: a state in a slot is used where it lives, any other has
   * its layer's slice copied into the part's batch staging before the layer and back after it.
   */
  private async batchPass(states: readonly ModelState[], ids: number[], out: Float32Array): Promise<void> {
    const c = this.config;
    const { dModel: Dm, dInner: E, dState: N, dConv: K, vocabSize: V } = c;
    const S = states.length;
    const G = this.maxBatch;
    const convN = E * (K - 1), ssmN = E * N;
    const slots = states.map((st) => this.slotOf(st));
    this.embed(ids, 0, S);
    let cur = this.embedPart;
    for (const part of this.liveParts) {
      const nl = part.plan.layers.length;
      if (nl === 0) continue;
      cur = this.handOver(cur, part, S);
      const sc = part.plan.scratch;
      const table = new Uint32Array(part.memory.buffer, sc.batchTable, 2 * G);
      const tables: BatchTables = { convTable: sc.batchTable, ssmTable: sc.batchTable + G * 4 };
      for (let j = 0; j < nl; j++) {
        const layer = part.plan.spec.layer0 + j;
        const staged: number[] = [];
        for (let b = 0; b < S; b++) {
          const slot = slots[b];
          if (slot) {
            table[b] = slot.conv + layer * convN * 4;
            table[G + b] = slot.ssm + layer * ssmN * 4;
          } else {
            table[b] = sc.batchConv + b * convN * 4;
            table[G + b] = sc.batchSsm + b * ssmN * 4;
            f32(part.memory, table[b], convN).set(states[b].conv.subarray(layer * convN, (layer + 1) * convN));
            f32(part.memory, table[G + b], ssmN).set(states[b].ssm.subarray(layer * ssmN, (layer + 1) * ssmN));
            staged.push(b);
          }
        }
        await this.block(part, j, S, tables);
        for (const b of staged) {
          states[b].conv.subarray(layer * convN, (layer + 1) * convN).set(f32(part.memory, table[b], convN));
          states[b].ssm.subarray(layer * ssmN, (layer + 1) * ssmN).set(f32(part.memory, table[G + b], ssmN));
        }
        if (this.pacer.due()) await this.pacer.turn();
        this.checkUsable();
      }
    }
    const hp = this.handOver(cur, this.headPart, S);
    const hs = hp.plan.scratch;
    hp.k.rmsNorm(hs.hf, hs.h, hp.plan.normF, S, Dm, c.normEps);
    await this.linear(hp, hs.logits, hs.hf, hp.plan.lmHead!, 0, S, { batch: true });
    out.set(f32(hp.memory, hs.logits, S * V));
    for (const st of states) st.position += 1;
  }

  /** Rejects once the model is disposed or its pool is faulted (a worker died): the model cannot run any more. */
  private checkUsable(): void {
    if (this.disposed) throw new InputError('this model has been disposed');
    if (this.pool?.fault) throw this.pool.fault;
  }

  /**
   * Feeds `ids` from `state` in chunks of `chunkSize`, advancing it. Returns logits for every position when
   * `allLogits`, else for the last position only (the lm_head runs for that row only). Calls run one at a time
   * (they share the scratch); between layers the event loop gets a turn when one is due, and before each chunk
   * the signal is looked at (src/model.ts `CallOptions`).
   */
  run(state: ModelState, ids: ArrayLike<number>, allLogits: boolean, signal?: AbortSignal): Promise<Float32Array> {
    return this.queue.run(() => this.runNow(state, ids, allLogits, signal));
  }

  private async runNow(state: ModelState, ids: ArrayLike<number>, allLogits: boolean, signal?: AbortSignal): Promise<Float32Array> {
    this.checkUsable();
    const c = this.config;
    checkIds(ids, c.vocabSize);
    checkState(state, c);
    const n = ids.length;
    throwIfAborted(signal);
    const { dModel: Dm, vocabSize: V } = c;
    const slot = this.slotOf(state);
    if (!slot) this.moveState(state, true);
    const out = new Float32Array((allLogits ? n : 1) * V);
    const Cn = this.liveParts[0].plan.chunkSize;
    const ep = this.embedPart;
    const hp = this.headPart;
    let done = 0;
    try {
      for (let at = 0; at < n; at += Cn) {
        if (at > 0) throwIfAborted(signal);
        const L = Math.min(Cn, n - at);
        this.embed(ids, at, L);
        let cur = ep;
        for (const part of this.liveParts) {
          const nl = part.plan.layers.length;
          if (nl === 0) continue;
          cur = this.handOver(cur, part, L);
          const where = slot ?? part.plan.scratch;
          for (let j = 0; j < nl; j++) {
            await this.block(part, j, L, where);
            if (this.pacer.due()) await this.pacer.turn();
            this.checkUsable();
          }
        }
        cur = this.handOver(cur, hp, L);
        const hs = hp.plan.scratch;
        if (allLogits) {
          await this.rows(hp, 'rmsNormRows', [hs.hf, hs.h, hp.plan.normF, L, Dm, c.normEps], L, L * Dm, 1);
          this.tracer?.(hp, 'norm_f', hs.hf, L, Dm);
          await this.linear(hp, hs.logits, hs.hf, hp.plan.lmHead!, 0, L);
          out.set(f32(hp.memory, hs.logits, L * V), at * V);
        } else if (at + L === n) {
          hp.k.rmsNorm(hs.hf, hs.h + (L - 1) * Dm * 4, hp.plan.normF, 1, Dm, c.normEps);
          await this.linear(hp, hs.logits, hs.hf, hp.plan.lmHead!, 0, 1);
          out.set(f32(hp.memory, hs.logits, V));
        }
        done += L;
      }
    } finally {
      // Whatever ended the call, the state holds the chunks completed (an abort is seen only between chunks).
      if (!slot && this.liveParts.length) this.moveState(state, false);
      state.position += done;
    }
    return out;
  }
}
