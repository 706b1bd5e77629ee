/**
 * The wasm engine's memory plan: where every buffer of each part lives, decided before any memory exists.
 *
 * One model = one or more parts, each a shared `WebAssembly.Memory` of fixed size + one kernel instance over it.
 * A part holds a range of layers (and the embeddings, norm_f and lm_head where they fall); one wasm32 memory holds
 * at most 4 GiB, so a larger model (the 7B: 14.5 GB in bf16) is split by {@link planParts} into several. The
 * layout of one part:
 *
 *   [static data of the module] [weights, layer by layer, then embeddings, norm_f, lm_head]
 *   [scratch for one chunk of `chunkSize` tokens] [state slots: conv (nLayer, E, K−1), ssm (nLayer, E, N)]
 *   [staging for q8/q4 quantization at load]
 *
 * This file owns the plan's types, the per-dtype byte sizes and row offsets of matrices, the split into parts,
 * the bytes a decoded token streams, and {@link planWasmMemory}, the one entry point for asking what the engine
 * would allocate (the CLI's `info`). Loading is src/wasm/load.ts; running is src/wasm/model.ts.
 */
import type { ModelConfig } from '../config.ts';
import type { Checkpoint } from '../io/checkpoint.ts';
import type { DType } from '../io/safetensors.ts';
import { InputError } from '../errors.ts';
import { DEFAULT_CHUNK_SIZE, MAX_PART_BYTES, type LoadOptions } from '../model.ts';
import { blocksPerRow, quantBytes } from '../reference/quant.ts';
import { qkBytes } from '../reference/quant-qk.ts';
import { UNPACK_FORMAT, type UnpackType } from '../reference/ggml-unpack.ts';
import { compileKernels, createMemory, instantiateKernels } from './kernels.ts';
import { bf16BlockCols, bf16Elements } from './layout.ts';
import { MemoryPlan } from './memory.ts';

export { MAX_PART_BYTES } from '../model.ts';

/**
 * How a matrix is held in wasm memory: as stored, or block-quantized (docs/quantization.md, pair layout); `qk`:
 * a GGUF Q4_1 / Q5_1 / K-quant matrix as int8 quants with per-sub-block scales and minimums
 * (src/reference/quant-qk.ts, docs/gguf.md).
 */
export type MatrixDType = 'f32' | 'bf16' | 'f16' | 'q8' | 'q4' | 'qk';

/** A matrix (rows, cols) in wasm memory. */
export interface Matrix {
  /** The weights (q8/q4: the quants). */
  ptr: number;
  dtype: MatrixDType;
  rows: number;
  cols: number;
  /** q8/q4: the f32 block scales; qk: the sub-block scales; 0 otherwise. */
  scales: number;
  /** qk: the f32 sub-block minimums (0 for types without them). */
  mins?: number;
  /** qk: weights per scale, 16 or 32. */
  group?: 16 | 32;
}

/** Byte offsets of one block's weights; 0 = absent (optional biases). Shapes in glossary units. */
export interface LayerPlan {
  norm: number; // (H) f32
  inProj: Matrix; // (2E, H): rows 0..E−1 → x, E..2E−1 → z
  inProjBias: number; // (2E) f32 | 0
  convWeight: number; // (E, K) f32
  convBias: number; // (E) f32 | 0
  xProj: Matrix; // (R+2N, E)
  dtProj: Matrix; // (E, R)
  dtProjBias: number; // (E) f32
  A: number; // (E, N) f32 = −exp(A_log)
  D: number; // (E) f32
  outProj: Matrix; // (H, E)
  outProjBias: number; // (H) f32 | 0
}

/** Byte offsets of the scratch activations for one chunk of C tokens. */
export interface ScratchPlan {
  ids: number; // (C) i32
  h: number; // (C, H) residual stream
  u: number; // (C, H) normed
  x: number; // (C, E) in_proj x half
  z: number; // (C, E) gate
  xc: number; // (C, E) silu(conv(x))
  dbc: number; // (C, R+2N) x_proj output
  dtr: number; // (C, R) dt rows, contiguous for dt_proj
  delta: number; // (C, E) dt_proj output (before softplus)
  y: number; // (C, E) scan output
  o: number; // (C, H) out_proj output
  hf: number; // (C, H) norm_f output
  logits: number; // (C, V); 0 outside the head's part
  xq: number; // (C, nb·32) int8 quantized activation (q8/q4 models; 0 otherwise), nb = ceil(max inF / 32)
  xd: number; // (C, nb) f32 its block scales
  xs: number; // (C, 2·nb) f32 d_x·Σ q_x per 16 columns (qk models; 0 otherwise)
  xz: number; // (C, 2E) whole in_proj output when its halves cannot be split (q8/q4 with odd E); 0 otherwise
  conv: number; // (layers, E, K−1) this part's layers' state, for states that live outside (copied in and out)
  ssm: number; // (layers, E, N)
  batchConv: number; // (batch, E, K−1) batched decode: one layer's conv state of each sequence that lives outside
  batchSsm: number; // (batch, E, N) … and its SSM state
  batchTable: number; // (2, batch) u32: the offset of each batched sequence's layer state, conv then ssm
}

/** A state slot: where a state made by `createState` lives, so calls on it copy nothing. */
export interface StateSlot {
  conv: number; // (nLayer, E, K−1)
  ssm: number; // (nLayer, E, N)
}

/** Which tensors one part (one wasm memory) holds: layers [layer0, layer1), and optionally the ends. */
export interface PartSpec {
  layer0: number;
  layer1: number;
  /** The embedding table (the first part, or for tied weights the part with the head). */
  embeddings: boolean;
  /** norm_f and lm_head (the last part). */
  head: boolean;
}

/** The memory plan of one part (the whole model when it fits in one memory). */
export interface WasmPlan {
  /** What this part holds. */
  spec: PartSpec;
  /** Layers spec.layer0 .. spec.layer1 − 1, indexed from 0. */
  layers: LayerPlan[];
  embeddings: Matrix | null; // (V, H)
  normF: number; // (H) f32; 0 when not in this part
  lmHead: Matrix | null; // (V, H); the same region as `embeddings` when tied
  scratch: ScratchPlan;
  /** Slots for states made by `createState` (views into wasm memory; one-part models only); more fall back to copying. */
  slots: StateSlot[];
  chunkSize: number;
  bytes: number;
  weightBytes: number;
  /** q8/q4 loads: a region holding a chunk of one stored tensor's rows while they are quantized (0 otherwise). */
  staging: number;
}

/**
 * States that live in wasm memory at once. A slot saves copying the whole state in and out on every call
 * (2 × E·(K−1+N)·nLayer floats: 2 × 3.7 MB per decoded token on the small shape, ~1–2 ms of a ~25 ms token).
 */
const STATE_SLOTS = 4;

/**
 * Sequences one pass of batched decode takes (at most the chunk size, whose scratch rows they use); a larger
 * batch runs in groups of this many. Its per-layer staging for states outside the slots is small: 16 × E·(K−1+N)
 * floats, 2.5 MB on the small shape and 10 MB a part for the 7B.
 */
export const MAX_BATCH = 16;

export function matrixDType(stored: DType, wanted: LoadOptions['dtype']): Exclude<MatrixDType, 'qk'> {
  if (wanted === 'f32' || wanted === 'q8' || wanted === 'q4') return wanted;
  if (wanted === 'bf16') return 'bf16';
  return stored === 'F32' ? 'f32' : stored === 'BF16' ? 'bf16' : 'f16';
}

export const BYTES: Record<'f32' | 'bf16' | 'f16', number> = { f32: 4, bf16: 2, f16: 2 };
export const STORED_BYTES: Partial<Record<DType, number>> = { F32: 4, BF16: 2, F16: 2 };
/** Rows of a stored tensor quantized per chunk at load (even, so each chunk starts a row pair): ~8 MB of them. */
export function quantChunkRows(cols: number, storedBytes: number): number {
  return Math.max(2, Math.floor((8 << 20) / (cols * storedBytes)) & ~1);
}

/** Byte offsets of rows [r, …) of `m` (r even for q8/q4/qk: the pair layout keeps an even row start a valid matrix). */
export function rowOffset(m: Matrix, r: number): { ptr: number; scales: number; mins: number } {
  if (m.dtype === 'qk') {
    const sub = r * (m.cols / 32) * (32 / m.group!) * 4;
    return { ptr: m.ptr + r * m.cols, scales: m.scales + sub, mins: m.mins ? m.mins + sub : 0 };
  }
  if (m.dtype === 'q8' || m.dtype === 'q4') {
    const nb = blocksPerRow(m.cols);
    return { ptr: m.ptr + r * nb * (m.dtype === 'q8' ? 32 : 16), scales: m.scales + r * nb * 4, mins: 0 };
  }
  if (m.dtype === 'bf16') return { ptr: m.ptr + r * bf16BlockCols(m.cols) * 2, scales: 0, mins: 0 }; // every column block's row r
  return { ptr: m.ptr + r * m.cols * BYTES[m.dtype], scales: 0, mins: 0 };
}

/** Lays out one part's weights, scratch and state slots (default: the whole model; no memory is touched). */
export function planMemory(
  ckpt: Checkpoint,
  base: number,
  chunkSize: number,
  dtype: LoadOptions['dtype'] = 'auto',
  spec: PartSpec = { layer0: 0, layer1: ckpt.config.nLayer, embeddings: true, head: true },
): WasmPlan {
  const c = ckpt.config;
  const { dModel: Dm, dInner: E, dState: N, dConv: K, dtRank: R, vocabSize: V, nLayer } = c;
  const plan = new MemoryPlan(base);
  const vec = (name: string, n: number) => plan.alloc(name, n * 4);
  const mat = (name: string, rows: number, cols: number): Matrix => {
    const stored = ckpt.info(name).dtype;
    // A GGUF Q8_0 / Q4_0 matrix stays in its own blocks (as stored, or when that layout is asked for).
    const info = ckpt.info(name) as { nativeQuant?: 'q8' | 'q4' | 'qk'; gguf?: { type: string } };
    const native = info.nativeQuant;
    if (native === 'qk' && dtype === 'auto') {
      // GGUF Q4_1 / Q5_1 / K-quants: their integers, scales and minimums as stored (lossless).
      anyQuant = anyQK = true;
      const { group, hasMin } = UNPACK_FORMAT[info.gguf!.type as UnpackType];
      const qb = qkBytes(rows, cols, group, hasMin);
      const ptr = plan.alloc(name, qb.quants);
      const scales = plan.alloc(name + '.scales', qb.scales);
      return { ptr, dtype: 'qk', rows, cols, scales, mins: hasMin ? plan.alloc(name + '.mins', qb.mins) : 0, group };
    }
    const dt = native && native !== 'qk' && (dtype === 'auto' || dtype === native) ? native : matrixDType(stored, dtype);
    if (dt === 'q8' || dt === 'q4') {
      anyQuant = true;
      if (dt !== native) staging = Math.max(staging, Math.min(rows, quantChunkRows(cols, STORED_BYTES[stored] ?? 4)) * cols * (STORED_BYTES[stored] ?? 4));
      const qb = quantBytes(dt, rows, cols);
      return { ptr: plan.alloc(name, qb.quants), dtype: dt, rows, cols, scales: plan.alloc(name + '.scales', qb.scales) };
    }
    const bytes = dt === 'bf16' ? bf16Elements(rows, cols) * 2 : rows * cols * BYTES[dt];
    return { ptr: plan.alloc(name, bytes), dtype: dt, rows, cols, scales: 0 };
  };
  let staging = 0;
  let anyQuant = false;
  let anyQK = false;
  const layers: LayerPlan[] = [];
  for (let i = spec.layer0; i < spec.layer1; i++) {
    const p = `backbone.layers.${i}.`;
    layers.push({
      norm: vec(p + 'norm.weight', Dm),
      inProj: mat(p + 'mixer.in_proj.weight', 2 * E, Dm),
      inProjBias: c.useBias ? vec(p + 'mixer.in_proj.bias', 2 * E) : 0,
      convWeight: vec(p + 'mixer.conv1d.weight', E * K),
      convBias: c.useConvBias ? vec(p + 'mixer.conv1d.bias', E) : 0,
      xProj: mat(p + 'mixer.x_proj.weight', R + 2 * N, E),
      dtProj: mat(p + 'mixer.dt_proj.weight', E, R),
      dtProjBias: vec(p + 'mixer.dt_proj.bias', E),
      A: vec(p + 'mixer.A_log', E * N),
      D: vec(p + 'mixer.D', E),
      outProj: mat(p + 'mixer.out_proj.weight', Dm, E),
      outProjBias: c.useBias ? vec(p + 'mixer.out_proj.bias', Dm) : 0,
    });
  }
  if (spec.head && c.tieWordEmbeddings && !spec.embeddings) throw new Error('planMemory: a tied lm_head needs the embeddings in its part');
  const embeddings = spec.embeddings ? mat('backbone.embeddings.weight', V, Dm) : null;
  const normF = spec.head ? vec('backbone.norm_f.weight', Dm) : 0;
  const lmHead = !spec.head ? null : c.tieWordEmbeddings ? embeddings : mat('lm_head.weight', V, Dm);
  const nL = spec.layer1 - spec.layer0;
  const weightBytes = plan.size - base;
  const C = chunkSize;
  const quantized = anyQuant;
  const nbMax = blocksPerRow(Math.max(Dm, E, R));
  const scratch: ScratchPlan = {
    ids: plan.alloc('ids', C * 4),
    h: vec('h', C * Dm),
    u: vec('u', C * Dm),
    x: vec('x', C * E),
    z: vec('z', C * E),
    xc: vec('xc', C * E),
    dbc: vec('dbc', C * (R + 2 * N)),
    dtr: vec('dtr', C * R),
    delta: vec('delta', C * E),
    y: vec('y', C * E),
    o: vec('o', C * Dm),
    hf: vec('hf', C * Dm),
    logits: spec.head ? vec('logits', C * V) : 0,
    xq: quantized ? plan.alloc('xq', C * nbMax * 32) : 0,
    xd: quantized ? vec('xd', C * nbMax) : 0,
    xs: anyQK ? vec('xs', C * nbMax * 2) : 0,
    xz: quantized && E % 2 === 1 ? vec('xz', C * 2 * E) : 0,
    conv: vec('state.conv', nL * E * (K - 1)),
    ssm: vec('state.ssm', nL * E * N),
    batchConv: vec('batch.conv', Math.min(MAX_BATCH, C) * E * (K - 1)),
    batchSsm: vec('batch.ssm', Math.min(MAX_BATCH, C) * E * N),
    batchTable: plan.alloc('batch.table', 2 * Math.min(MAX_BATCH, C) * 4),
  };
  const slots: StateSlot[] = [];
  const whole = spec.layer0 === 0 && spec.layer1 === nLayer && spec.embeddings && spec.head;
  for (let i = 0; i < (whole ? STATE_SLOTS : 0); i++) {
    slots.push({ conv: vec(`slot${i}.conv`, nLayer * E * (K - 1)), ssm: vec(`slot${i}.ssm`, nLayer * E * N) });
  }
  const stagingPtr = staging ? plan.alloc('staging', staging) : 0;
  return { spec, layers, embeddings, normF, lmHead, scratch, slots, chunkSize: C, bytes: plan.size, weightBytes, staging: stagingPtr };
}

/**
 * Splits the model into parts that each fit in `maxPartBytes` (default 4 GiB), in forward order: the first part
 * starts with the embeddings (unless they are tied to lm_head, which puts them in the last part), then as many
 * whole layers as fit in each part, and norm_f + lm_head in the last part (or a part of their own). A model that
 * fits in one memory gets exactly one part, as `planMemory` alone would make.
 * @throws InputError when a single layer or the embeddings/head alone do not fit
 */
export function planParts(ckpt: Checkpoint, base: number, chunkSize: number, dtype: LoadOptions['dtype'] = 'auto', maxPartBytes = MAX_PART_BYTES): WasmPlan[] {
  const c = ckpt.config;
  const tied = c.tieWordEmbeddings;
  const whole = planMemory(ckpt, base, chunkSize, dtype);
  if (whole.bytes <= maxPartBytes) return [whole];
  const fits = (spec: PartSpec) => {
    const p = planMemory(ckpt, base, chunkSize, dtype, spec);
    return p.bytes <= maxPartBytes ? p : null;
  };
  const limit = maxPartBytes >= 2 ** 30 ? `${(maxPartBytes / 2 ** 30).toFixed(2)} GiB` : `${(maxPartBytes / 2 ** 20).toFixed(2)} MiB`;
  const plans: WasmPlan[] = [];
  let cur: WasmPlan | null = null;
  let spec: PartSpec = { layer0: 0, layer1: 0, embeddings: !tied, head: false };
  if (!tied && !fits(spec)) throw new InputError(`backbone.embeddings.weight does not fit in one wasm memory of ${limit}`);
  for (let i = 0; i < c.nLayer; i++) {
    const next = fits({ ...spec, layer1: i + 1 });
    if (next) {
      cur = next;
      spec = next.spec;
      continue;
    }
    if (spec.layer1 > spec.layer0 || spec.embeddings) plans.push(cur ?? planMemory(ckpt, base, chunkSize, dtype, spec));
    spec = { layer0: i, layer1: i + 1, embeddings: false, head: false };
    cur = fits(spec);
    if (!cur) throw new InputError(`layer ${i} does not fit in one wasm memory of ${limit}`);
  }
  const withHead = fits({ ...spec, head: true, embeddings: spec.embeddings || tied });
  if (withHead) plans.push(withHead);
  else {
    plans.push(cur ?? planMemory(ckpt, base, chunkSize, dtype, spec));
    const head = fits({ layer0: c.nLayer, layer1: c.nLayer, embeddings: tied, head: true });
    if (!head) throw new InputError(`backbone.norm_f and lm_head${tied ? ' (tied to the embeddings)' : ''} do not fit in one wasm memory of ${limit}`);
    plans.push(head);
  }
  return plans;
}

/** Bytes of a matrix in wasm memory (q8/q4: quants and scales). */
function matrixBytes(m: Matrix): number {
  if (m.dtype === 'qk') {
    const q = qkBytes(m.rows, m.cols, m.group!, m.mins !== 0);
    return q.quants + q.scales + q.mins;
  }
  if (m.dtype === 'q8' || m.dtype === 'q4') {
    const q = quantBytes(m.dtype, m.rows, m.cols);
    return q.quants + q.scales;
  }
  return m.rows * m.cols * BYTES[m.dtype];
}

/**
 * Weight bytes one decoded token streams from memory: every matrix of every layer, norm_f and lm_head, and one
 * row of the embeddings (the per-channel vectors are counted too).
 */
export function bytesPerToken(c: ModelConfig, plans: WasmPlan[]): number {
  const { dModel: Dm, dInner: E, dState: N, dConv: K } = c;
  // norm, conv weight and bias, dt bias, A, D, in/out biases: f32 vectors.
  const vectors = 4 * (Dm + E * K + E + E + E * N + E + (c.useBias ? 2 * E + Dm : 0));
  let n = 0;
  for (const plan of plans) {
    for (const l of plan.layers) n += matrixBytes(l.inProj) + matrixBytes(l.xProj) + matrixBytes(l.dtProj) + matrixBytes(l.outProj) + vectors;
    if (plan.embeddings) n += matrixBytes(plan.embeddings) / plan.embeddings.rows;
    if (plan.lmHead) n += matrixBytes(plan.lmHead) + 4 * Dm;
  }
  return n;
}

/**
 * What the wasm engine would allocate for `ckpt` with these options (`dtype`, `chunkSize`, `maxPartBytes`;
 * defaults as in `loadModel`): the plan of each part, in forward order. Compiles the kernels only to read where
 * their static data ends; no model memory is touched.
 */
export async function planWasmMemory(ckpt: Checkpoint, options: Pick<LoadOptions, 'dtype' | 'chunkSize' | 'maxPartBytes'> = {}): Promise<WasmPlan[]> {
  const base = (await instantiateKernels(await compileKernels('plain'), createMemory(1))).heapBase();
  return planParts(ckpt, base, options.chunkSize ?? DEFAULT_CHUNK_SIZE, options.dtype ?? 'auto', options.maxPartBytes ?? MAX_PART_BYTES);
}
