/**
 * The reference backend: the Mamba-1 / FalconMamba model built from the readable operators in `ops.ts`.
 * It is the oracle every faster path is judged against, so it favours clarity over speed; it widens every
 * weight to f32 at load (fine for the test and demo models; the wasm backend keeps bf16 for the 7B).
 *
 * Data path of one call over L tokens (docs/falcon-mamba-math.md §5):
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
import { checkIds, checkState, zeroState, type Model, type ModelState, type TraceHook } from '../model.ts';
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

/** One block's weights, all f32. Shapes in glossary units. */
export interface LayerWeights {
  /** (D) */
  norm: Float32Array;
  /** (2E, D) */
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
  /** (D, E) */
  outProj: Float32Array;
  /** (D) */
  outProjBias: Float32Array | null;
}

/** Every weight of the model, f32, in glossary shapes. */
export interface Weights {
  /** (V, D) */
  embeddings: Float32Array;
  /** One entry per block, in order. */
  layers: LayerWeights[];
  /** (D) */
  normF: Float32Array;
  /** (V, D); the same array as `embeddings` when tied */
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

/** Trace only: emits x_proj's dt (L, R), B (L, N) and C (L, N) as separate tensors (`suffix` "" or "_normed"). */
function emitDtBC(
  emit: (name: string, v: Float32Array, shape: number[]) => void,
  dbc: Float32Array,
  L: number,
  R: number,
  N: number,
  suffix: string,
): void {
  const W = R + 2 * N;
  const parts: [string, number, number][] = [['dt', 0, R], ['B', R, N], ['C', R + N, N]];
  for (const [name, at, n] of parts) {
    const out = new Float32Array(L * n);
    for (let t = 0; t < L; t++) out.set(dbc.subarray(t * W + at, t * W + at + n), t * n);
    emit(`mixer.x_proj.${name}${suffix}`, out, [L, n]);
  }
}

/**
 * A linear layer with `ops.linear`'s contract: out (L, outF) = x (L, inF) @ W (outF, inF)ᵀ (+ bias). The model
 * takes one so that a variant (bench/quant-quality.ts: quantized activations) reuses this block unchanged.
 */
export type LinearFn = typeof linear;

/**
 * One Mamba block over L tokens (HF `MambaBlock` + `slow_forward`), updating `h` (L, D) in place and the
 * layer's slices of the state. `conv` is this layer's (E, K−1) conv state, `ssm` its (E, N) SSM state; `lin`
 * computes its four linear layers.
 */
export function mambaBlock(
  c: ModelConfig,
  w: LayerWeights,
  h: Float32Array,
  L: number,
  conv: Float32Array,
  ssm: Float32Array,
  trace?: TraceHook,
  prefix = '',
  lin: LinearFn = linear,
): void {
  const { dModel: Dm, dInner: E, dState: N, dConv: K, dtRank: R } = c;
  const emit = (name: string, v: Float32Array, shape: number[]) => trace?.(prefix + name, v, shape);
  emit('input', h, [L, Dm]);

  const u = new Float32Array(L * Dm);
  rmsNorm(u, h, w.norm, L, Dm, c.normEps);
  emit('norm', u, [L, Dm]);

  // in_proj → (L, 2E); the first E columns are x, the last E the gate z.
  const xz = new Float32Array(L * 2 * E);
  lin(xz, u, w.inProj, w.inProjBias, L, Dm, 2 * E);
  const x = new Float32Array(L * E);
  const z = new Float32Array(L * E);
  for (let t = 0; t < L; t++) {
    x.set(xz.subarray(t * 2 * E, t * 2 * E + E), t * E);
    z.set(xz.subarray(t * 2 * E + E, (t + 1) * 2 * E), t * E);
  }
  emit('mixer.in_proj.x', x, [L, E]);
  emit('mixer.in_proj.z', z, [L, E]);

  // Causal depthwise conv over time, then silu.
  const xc = new Float32Array(L * E);
  if (L === 1) causalConv1dStep(xc, x, w.convWeight, w.convBias, conv, E, K);
  else causalConv1d(xc, x, w.convWeight, w.convBias, conv, L, E, K);
  emit('mixer.conv1d.pre_silu', xc, [L, E]);
  for (let i = 0; i < xc.length; i++) xc[i] = silu(xc[i]);
  emit('mixer.conv1d.out', xc, [L, E]);

  // The conv state left for the next call (E, K−1): final once the conv has run.
  emit('mixer.conv_state', conv, [E, K - 1]);

  // x_proj → dt (R), B (N), C (N) per token; FalconMamba normalizes each.
  const W = R + 2 * N;
  const dbc = new Float32Array(L * W);
  lin(dbc, xc, w.xProj, null, L, E, W);
  emit('mixer.x_proj.out', dbc, [L, W]);
  if (trace) emitDtBC(emit, dbc, L, R, N, '');
  if (c.dtBCNorm) {
    dtBCRmsNorm(dbc, L, R, N, c.mixerRmsEps);
    if (trace) emitDtBC(emit, dbc, L, R, N, '_normed');
  }

  // dt_proj (with bias) → delta (L, E); softplus happens inside the scan.
  const dtRows = new Float32Array(L * R);
  for (let t = 0; t < L; t++) dtRows.set(dbc.subarray(t * W, t * W + R), t * R);
  const delta = new Float32Array(L * E);
  lin(delta, dtRows, w.dtProj, w.dtProjBias, L, R, E);
  emit('mixer.dt_proj.out', delta, [L, E]);

  // Selective scan with D skip and silu(z) gate.
  const y = new Float32Array(L * E);
  const B = dbc.subarray(R);
  const C = dbc.subarray(R + N);
  // Trace only: the scan fuses softplus, the recurrence, the D skip and the gate; recompute the unfused
  // parts from a copy of the starting state (same arithmetic, so they agree with the fused output exactly).
  const ssmBefore = trace ? ssm.slice() : null;
  if (L === 1) selectiveScanStep(y, xc, delta, w.A, B, C, w.D, z, ssm, E, N);
  else selectiveScan(y, xc, delta, w.A, B, C, w.D, z, ssm, L, E, N, W);
  if (ssmBefore) {
    const dt = new Float32Array(L * E);
    const yScan = new Float32Array(L * E);
    const ySkip = new Float32Array(L * E);
    selectiveScanParts(dt, yScan, ySkip, xc, delta, w.A, B, C, w.D, ssmBefore, L, E, N, W);
    emit('mixer.dt', dt, [L, E]);
    emit('mixer.A', w.A, [E, N]);
    emit('mixer.scan.y', yScan, [L, E]);
    emit('mixer.ssm_state', ssm, [E, N]);
    emit('mixer.scan.y_D', ySkip, [L, E]);
  }
  emit('mixer.gated', y, [L, E]);

  // out_proj and the residual add.
  const o = new Float32Array(L * Dm);
  lin(o, y, w.outProj, w.outProjBias, L, E, Dm);
  emit('mixer.out_proj.out', o, [L, Dm]);
  for (let i = 0; i < h.length; i++) h[i] = Math.fround(h[i] + o[i]);
  emit('output', h, [L, Dm]);
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

  /**
   * Runs L tokens through every layer from `state`, advancing it. Returns the final normed hidden states'
   * logits for every position when `allLogits`, else for the last position only (the lm_head is the largest
   * matmul; generation needs only the last row).
   */
  run(state: ModelState, ids: ArrayLike<number>, allLogits: boolean, trace?: TraceHook): Float32Array {
    const c = this.config;
    const L = ids.length;
    if (L === 0) throw new InputError('no token ids given');
    checkIds(ids, c.vocabSize);
    checkState(state, c);
    const { dModel: Dm, dInner: E, dState: N, dConv: K, vocabSize: V } = c;
    const h = new Float32Array(L * Dm);
    embed(h, this.weights.embeddings, ids, L, Dm);
    trace?.('embeddings', h, [L, Dm]);
    const convPer = E * (K - 1);
    const ssmPer = E * N;
    for (let i = 0; i < c.nLayer; i++) {
      const conv = state.conv.subarray(i * convPer, (i + 1) * convPer);
      const ssm = state.ssm.subarray(i * ssmPer, (i + 1) * ssmPer);
      mambaBlock(c, this.weights.layers[i], h, L, conv, ssm, trace, `layers.${i}.`, this.lin);
    }
    state.position += L;
    const rows = allLogits ? L : 1;
    const last = h.subarray((L - rows) * Dm);
    const hf = new Float32Array(rows * Dm);
    rmsNorm(hf, last, this.weights.normF, rows, Dm, c.normEps);
    trace?.('norm_f', hf, [rows, Dm]);
    const logits = new Float32Array(rows * V);
    this.lin(logits, hf, this.weights.lmHead, null, rows, Dm, V);
    trace?.('logits', logits, [rows, V]);
    return logits;
  }

  forward(ids: ArrayLike<number>): Float32Array {
    return this.run(this.createState(), ids, true);
  }

  /** A forward pass from a fresh state (all positions' logits) calling `hook` with every intermediate. */
  trace(ids: ArrayLike<number>, hook: TraceHook): void {
    this.run(this.createState(), ids, true, hook);
  }

  prefill(state: ModelState, ids: ArrayLike<number>): Float32Array {
    return this.run(state, ids, false);
  }

  step(state: ModelState, id: number): Float32Array {
    return this.run(state, [id], false);
  }

  saveState(state: ModelState): Uint8Array {
    return saveState(this.config, state);
  }

  loadState(bytes: Uint8Array): ModelState {
    return loadState(this.config, bytes);
  }

  dispose(): void {}
}
