/**
 * The reference backend: the Mamba-1 / FalconMamba model built from the readable operators in `ops.ts`.
 * It is the oracle every faster path is judged against, so it favours clarity over speed; it widens every
 * weight to f32 at load (fine for the test and demo models; the wasm backend keeps bf16 for the 7B).
 *
 * Data path of one call over L tokens (every step exactly: docs/math.md §5):
 *   h = Emb[ids]
 *   per layer: u = RMSNorm(h); x, z = in_proj(u); x = silu(conv(x)); dt, B, C = x_proj(x)
 *              (FalconMamba: dt, B, C = rms(dt), rms(B), rms(C)); delta = dt_proj(dt)
 *              y = selectiveScan(x, delta, A, B, C, D, z); h = h + out_proj(y)
 *   logits = lm_head(RMSNorm_f(h))
 */
import type { ModelConfig } from '../config.ts';
import type { Checkpoint } from '../io/checkpoint.ts';
import type { GgufCheckpoint } from '../io/gguf-checkpoint.ts';
import { InputError } from '../errors.ts';
import { CallQueue, checkAllLogits, checkBatch, checkId, checkIds, checkState, Pacer, REFERENCE_CHUNK, throwIfAborted, zeroState, type CallOptions, type Model, type ModelState, type PrefillOptions, type TraceHook } from '../model.ts';
import { loadState, saveState } from '../state.ts';
import {
  causalConv1d,
  causalConv1dStep,
  dtBCRmsNorm,
  embed,
  linear,
  rmsNorm,
  selectiveScan,
  selectiveScanParts,
  selectiveScanStep,
  silu,
} from './ops.ts';

/** One block's weights, all f32. Shapes in the symbols of docs/math.md §1. */
export interface LayerWeights {
  /** (H) */
  norm: Float32Array;
  /** (2E, H) */
  inProj: Float32Array;
  /** (2E) */
  inProjBias: Float32Array | null;
  /** (E, K) */
  convWeight: Float32Array;
  /** (E) */
  convBias: Float32Array | null;
  /** (R+2N, E) */
  xProj: Float32Array;
  /** (E, R) */
  dtProj: Float32Array;
  /** (E) */
  dtProjBias: Float32Array;
  /** (E, N) = −exp(A_log), computed once at load */
  A: Float32Array;
  /** (E) */
  D: Float32Array;
  /** (H, E) */
  outProj: Float32Array;
  /** (H) */
  outProjBias: Float32Array | null;
}

/** Every weight of the model, f32, shapes in the symbols of docs/math.md §1. */
export interface Weights {
  /** (V, H) */
  embeddings: Float32Array;
  /** One entry per block, in order. */
  layers: LayerWeights[];
  /** (H) */
  normF: Float32Array;
  /** (V, H); the same array as `embeddings` when tied */
  lmHead: Float32Array;
}

/**
 * Reads every weight of a checkpoint, widened to f32 (or, from a GGUF file, dequantized), one tensor at a time.
 * A GGUF stores A itself (`readA`); a safetensors folder stores A_log, and A = −exp(A_log) is computed here.
 */
export async function loadReferenceWeights(ckpt: Checkpoint | GgufCheckpoint, onTensor?: (name: string, bytes: number) => void): Promise<Weights> {
  const c = ckpt.config;
  const read = async (name: string) => {
    const w = await ckpt.readF32(name);
    onTensor?.(name, ckpt.info(name).end - ckpt.info(name).start);
    return w;
  };
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `backbone.layers.${i}.`;
    let A: Float32Array;
    if ('readA' in ckpt) {
      A = await ckpt.readA(i);
      onTensor?.(p + 'mixer.A_log', ckpt.info(p + 'mixer.A_log').end - ckpt.info(p + 'mixer.A_log').start);
    } else {
      const Alog = await read(p + 'mixer.A_log');
      A = new Float32Array(Alog.length);
      for (let j = 0; j < A.length; j++) A[j] = -Math.exp(Alog[j]);
    }
    layers.push({
      norm: await read(p + 'norm.weight'),
      inProj: await read(p + 'mixer.in_proj.weight'),
      inProjBias: c.useBias ? await read(p + 'mixer.in_proj.bias') : null,
      convWeight: await read(p + 'mixer.conv1d.weight'),
      convBias: c.useConvBias ? await read(p + 'mixer.conv1d.bias') : null,
      xProj: await read(p + 'mixer.x_proj.weight'),
      dtProj: await read(p + 'mixer.dt_proj.weight'),
      dtProjBias: await read(p + 'mixer.dt_proj.bias'),
      A,
      D: await read(p + 'mixer.D'),
      outProj: await read(p + 'mixer.out_proj.weight'),
      outProjBias: c.useBias ? await read(p + 'mixer.out_proj.bias') : null,
    });
  }
  const embeddings = await read('backbone.embeddings.weight');
  return {
    embeddings,
    layers,
    normF: await read('backbone.norm_f.weight'),
    lmHead: c.tieWordEmbeddings ? embeddings : await read('lm_head.weight'),
  };
}

/**
 * A linear layer with `ops.linear`'s contract: out (L, outF) = x (L, inF) @ W (outF, inF)ᵀ (+ bias). The model
 * takes one so that a variant (bench/quant-quality.ts: quantized activations) reuses this block unchanged.
 */
export type LinearFn = typeof linear;

/** Every intermediate of one block over L tokens, (shapes in the symbols of docs/math.md §1). */
export interface BlockValues {
  /** (L, H) RMSNorm of the block input */
  u: Float32Array;
  /** (L, E) in_proj's first half, the SSM input */
  x: Float32Array;
  /** (L, E) in_proj's second half, the gate */
  z: Float32Array;
  /** (L, E) the causal conv of x, before silu */
  xConv: Float32Array;
  /** (L, E) silu of it */
  xc: Float32Array;
  /** (L, R+2N) x_proj's output [δr | B | C] */
  dbc: Float32Array;
  /** (L, R+2N) the same after FalconMamba's three weightless norms; `dbc` itself for Mamba */
  dbcNormed: Float32Array;
  /** (L, E) dt_proj's output, before softplus */
  delta: Float32Array;
  /** The unfused scan (Δ, Σ h·C, + D skip), only when asked for: the fused scan never holds them. */
  scan: { dt: Float32Array; yScan: Float32Array; ySkip: Float32Array } | null;
  /** (L, E) the gated scan output */
  y: Float32Array;
  /** (L, H) out_proj's output, added to the residual stream */
  o: Float32Array;
}

/** Columns [c0, c0 + n) of a (L, stride) array, as a fresh (L, n) array. */
function columns(a: Float32Array, L: number, stride: number, c0: number, n: number): Float32Array {
  const out = new Float32Array(L * n);
  for (let t = 0; t < L; t++) out.set(a.subarray(t * stride + c0, t * stride + c0 + n), t * n);
  return out;
}

/**
 * One Mamba block over L tokens (HF `MambaBlock` + `slow_forward`; steps 2–15 of docs/math.md §5), updating `h` (L, H)
 * in place and the layer's slices of the state: `conv` (E, K−1), `ssm` (E, N). `lin` computes its four linear
 * layers. With `scanParts` the scan runs unfused ({@link selectiveScanParts}, then the gate): the same
 * arithmetic as the fused one, so the outputs are the same bits, with Δ and the scan's partial sums kept.
 */
export function mambaBlock(
  c: ModelConfig,
  w: LayerWeights,
  h: Float32Array,
  L: number,
  conv: Float32Array,
  ssm: Float32Array,
  lin: LinearFn = linear,
  scanParts = false,
): BlockValues {
  const { dModel: H, dInner: E, dState: N, dConv: K, dtRank: R } = c;
  const W = R + 2 * N;

  const u = new Float32Array(L * H);
  rmsNorm(u, h, w.norm, L, H, c.normEps);

  const xz = new Float32Array(L * 2 * E);
  lin(xz, u, w.inProj, w.inProjBias, L, H, 2 * E);
  const x = columns(xz, L, 2 * E, 0, E);
  const z = columns(xz, L, 2 * E, E, E);

  const xConv = new Float32Array(L * E);
  if (L === 1) causalConv1dStep(xConv, x, w.convWeight, w.convBias, conv, E, K);
  else causalConv1d(xConv, x, w.convWeight, w.convBias, conv, L, E, K);
  const xc = xConv.map(silu);

  const dbc = new Float32Array(L * W);
  lin(dbc, xc, w.xProj, null, L, E, W);
  let dbcNormed = dbc;
  if (c.dtBCNorm) {
    dbcNormed = dbc.slice();
    dtBCRmsNorm(dbcNormed, L, R, N, c.mixerRmsEps);
  }

  const delta = new Float32Array(L * E);
  lin(delta, columns(dbcNormed, L, W, 0, R), w.dtProj, w.dtProjBias, L, R, E);

  // B and C are read in place from [δr | B | C] with row stride R+2N; softplus(δ) happens inside the scan.
  const B = dbcNormed.subarray(R);
  const C = dbcNormed.subarray(R + N);
  const y = new Float32Array(L * E);
  let scan: BlockValues['scan'] = null;
  if (scanParts) {
    scan = { dt: new Float32Array(L * E), yScan: new Float32Array(L * E), ySkip: new Float32Array(L * E) };
    selectiveScanParts(scan.dt, scan.yScan, scan.ySkip, xc, delta, w.A, B, C, w.D, ssm, L, E, N, W);
    for (let i = 0; i < y.length; i++) y[i] = Math.fround(scan.ySkip[i] * silu(z[i]));
  } else if (L === 1) selectiveScanStep(y, xc, delta, w.A, B, C, w.D, z, ssm, E, N);
  else selectiveScan(y, xc, delta, w.A, B, C, w.D, z, ssm, L, E, N, W);

  const o = new Float32Array(L * H);
  lin(o, y, w.outProj, w.outProjBias, L, E, H);
  for (let i = 0; i < h.length; i++) h[i] = Math.fround(h[i] + o[i]);
  return { u, x, z, xConv, xc, dbc, dbcNormed, delta, scan, y, o };
}

/**
 * The trace of one block (the oracle, docs/oracle.md): its values under the names and in the order of
 * `TRACE_LAYER_STAGES` (src/oracle/names.ts). `input` is emitted by the caller before the block runs;
 * `conv` and `ssm` are the layer's states after it.
 */
function traceBlock(emit: (name: string, v: Float32Array, shape: number[]) => void, c: ModelConfig, w: LayerWeights, v: BlockValues, h: Float32Array, conv: Float32Array, ssm: Float32Array, L: number): void {
  const { dModel: H, dInner: E, dState: N, dConv: K, dtRank: R } = c;
  const W = R + 2 * N;
  const dtBC = (a: Float32Array, suffix: string) => {
    emit(`mixer.x_proj.dt${suffix}`, columns(a, L, W, 0, R), [L, R]);
    emit(`mixer.x_proj.B${suffix}`, columns(a, L, W, R, N), [L, N]);
    emit(`mixer.x_proj.C${suffix}`, columns(a, L, W, R + N, N), [L, N]);
  };
  emit('norm', v.u, [L, H]);
  emit('mixer.in_proj.x', v.x, [L, E]);
  emit('mixer.in_proj.z', v.z, [L, E]);
  emit('mixer.conv1d.pre_silu', v.xConv, [L, E]);
  emit('mixer.conv1d.out', v.xc, [L, E]);
  emit('mixer.conv_state', conv, [E, K - 1]);
  emit('mixer.x_proj.out', v.dbc, [L, W]);
  dtBC(v.dbc, '');
  if (c.dtBCNorm) dtBC(v.dbcNormed, '_normed');
  emit('mixer.dt_proj.out', v.delta, [L, E]);
  emit('mixer.dt', v.scan!.dt, [L, E]);
  emit('mixer.A', w.A, [E, N]);
  emit('mixer.scan.y', v.scan!.yScan, [L, E]);
  emit('mixer.ssm_state', ssm, [E, N]);
  emit('mixer.scan.y_D', v.scan!.ySkip, [L, E]);
  emit('mixer.gated', v.y, [L, E]);
  emit('mixer.out_proj.out', v.o, [L, H]);
  emit('output', h, [L, H]);
}

/** The reference implementation of {@link Model}. */
export class ReferenceModel implements Model {
  /** Always `reference`. */
  readonly backend = 'reference' as const;

  constructor(
    /** The normalized config the weights were checked against. */
    readonly config: ModelConfig,
    /** All weights widened to f32, in HF's layout. */
    readonly weights: Weights,
    /** The linear layers' arithmetic (default `ops.linear`; a bench swaps in a quantized variant). */
    readonly lin: LinearFn = linear,
  ) {}

  createState(): ModelState {
    return zeroState(this.config);
  }

  /** Calls in flight, one at a time, in order (as the wasm backend's). */
  private readonly queue = new CallQueue();
  private disposed = false;
  /** The event loop's turns, kept across calls: many short calls in a row yield as one long one does. */
  private readonly pacer = new Pacer();

  /**
   * Runs L tokens through every layer from `state`, advancing it, in one synchronous pass (the oracle's, the
   * goldens' and the benches' path). Returns the final normed hidden states' logits for every position when
   * `allLogits`, else for the last position only (the lm_head is the largest matmul; generation needs only the
   * last row).
   */
  run(state: ModelState, ids: ArrayLike<number>, allLogits: boolean, trace?: TraceHook): Float32Array {
    const pass = this.pass(state, ids, allLogits ? 'all' : 'last', trace);
    for (;;) {
      const r = pass.next();
      if (r.done) return r.value;
    }
  }

  /**
   * {@link run} as a generator that pauses after each layer, so an async caller can give the event loop a turn;
   * the logits of every position, of the last, or none (a prefill chunk that is not the last).
   */
  private *pass(state: ModelState, ids: ArrayLike<number>, logitRows: 'all' | 'last' | 'none', trace?: TraceHook): Generator<void, Float32Array> {
    const c = this.config;
    checkIds(ids, c.vocabSize);
    checkState(state, c);
    const L = ids.length;
    const { dModel: H, dInner: E, dState: N, dConv: K, vocabSize: V } = c;
    const h = new Float32Array(L * H);
    embed(h, this.weights.embeddings, ids, L, H);
    trace?.('embeddings', h, [L, H]);
    const convPer = E * (K - 1);
    const ssmPer = E * N;
    for (let i = 0; i < c.nLayer; i++) {
      const conv = state.conv.subarray(i * convPer, (i + 1) * convPer);
      const ssm = state.ssm.subarray(i * ssmPer, (i + 1) * ssmPer);
      const p = `layers.${i}.`;
      trace?.(p + 'input', h, [L, H]);
      const v = mambaBlock(c, this.weights.layers[i], h, L, conv, ssm, this.lin, trace !== undefined);
      if (trace) traceBlock((name, a, shape) => trace(p + name, a, shape), c, this.weights.layers[i], v, h, conv, ssm, L);
      yield;
    }
    state.position += L;
    if (logitRows === 'none') return new Float32Array(0);
    const rows = logitRows === 'all' ? L : 1;
    const last = h.subarray((L - rows) * H);
    const hf = new Float32Array(rows * H);
    rmsNorm(hf, last, this.weights.normF, rows, H, c.normEps);
    trace?.('norm_f', hf, [rows, H]);
    const logits = new Float32Array(rows * V);
    this.lin(logits, hf, this.weights.lmHead, null, rows, H, V);
    trace?.('logits', logits, [rows, V]);
    return logits;
  }

  /**
   * {@link run} without blocking: in chunks of {@link REFERENCE_CHUNK} tokens (a 1-token remainder joins the
   * chunk before it, so no chunk but a lone token takes the single-step ops: the same bits as one pass), the
   * signal looked at before each, the event loop given a turn between layers when one is due.
   */
  private runAsync(state: ModelState, ids: ArrayLike<number>, allLogits: boolean, signal?: AbortSignal): Promise<Float32Array> {
    return this.queue.run(async () => {
      const c = this.config;
      checkIds(ids, c.vocabSize);
      checkState(state, c);
      const n = ids.length;
      const V = c.vocabSize;
      const out = new Float32Array((allLogits ? n : 1) * V);
      for (let at = 0; at < n; ) {
        throwIfAborted(signal);
        const L = n - at <= REFERENCE_CHUNK + 1 ? n - at : REFERENCE_CHUNK;
        const pass = this.pass(state, Array.prototype.slice.call(ids, at, at + L), allLogits ? 'all' : at + L === n ? 'last' : 'none');
        let r = pass.next();
        for (; !r.done; r = pass.next()) if (this.pacer.due()) await this.pacer.turn();
        if (allLogits) out.set(r.value, at * V);
        else if (at + L === n) out.set(r.value);
        at += L;
      }
      return out;
    });
  }

  forward(ids: ArrayLike<number>, options: CallOptions = {}): Promise<Float32Array> {
    return this.runAsync(this.createState(), ids, true, options.signal);
  }

  /** A forward pass from a fresh state (all positions' logits) calling `hook` with every intermediate. */
  trace(ids: ArrayLike<number>, hook: TraceHook): void {
    if (this.disposed) throw new InputError('this model has been disposed');
    this.run(this.createState(), ids, true, hook);
  }

  async prefill(state: ModelState, ids: ArrayLike<number>, options: PrefillOptions = {}): Promise<Float32Array> {
    checkIds(ids, this.config.vocabSize); // before ids.length is read
    return this.runAsync(state, ids, checkAllLogits(options, ids.length, this.config.vocabSize), options.signal);
  }

  step(state: ModelState, id: number, options: CallOptions = {}): Promise<Float32Array> {
    try {
      checkId(id, this.config.vocabSize);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.runAsync(state, [id], false, options.signal);
  }

  /** The oracle of batched decode: B single steps, one after the other, each on its own state. */
  async stepBatch(states: readonly ModelState[], ids: ArrayLike<number>, options: CallOptions = {}): Promise<Float32Array> {
    checkBatch(states, ids, this.config);
    throwIfAborted(options.signal);
    const V = this.config.vocabSize;
    const out = new Float32Array(states.length * V);
    for (let b = 0; b < states.length; b++) out.set(await this.step(states[b], ids[b]), b * V);
    return out;
  }

  saveState(state: ModelState): Uint8Array {
    return saveState(this.config, state);
  }

  loadState(bytes: Uint8Array): ModelState {
    return loadState(this.config, bytes);
  }

  /** Refuses every later call (as the wasm backend does; the weights are the garbage collector's once unreferenced). */
  dispose(): void {
    this.disposed = true;
    this.queue.close();
  }

  /** {@link dispose}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
