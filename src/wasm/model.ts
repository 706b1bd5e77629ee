/**
 * The wasm backend: the Mamba-1 / FalconMamba forward pass on the SIMD kernels of `assembly/` (docs/kernels.md).
 *
 * One model = one or more parts, each a shared `WebAssembly.Memory` of fixed size + one kernel instance over it,
 * laid out by a {@link MemoryPlan} made before the memory exists. A part holds a range of layers (and the
 * embeddings, norm_f and lm_head where they fall); one wasm32 memory holds at most 4 GiB, so a larger model (the
 * 7B: 14.5 GB in bf16) is split by {@link planParts} into several, and the residual stream h (L, D) is copied
 * from one part's scratch to the next's between layer ranges (D floats per token: nothing next to the weights).
 * The layout of one part:
 *
 *   [static data of the module] [weights, layer by layer, then embeddings, norm_f, lm_head]
 *   [scratch for one chunk of `chunkSize` tokens] [state slots: conv (nLayer, E, K−1), ssm (nLayer, E, N)]
 *
 * Weights are copied in once in their stored dtype (bf16 stays 2 bytes and is rearranged in place into the
 * interleaved layout of `bf16Interleave`; f16 stays 2 bytes and is widened in registers; f32 stays f32); the
 * small per-channel tensors (norm gains, biases, conv weights, A = −exp(A_log), D) are widened to f32 at load.
 * States made by `createState` live in one of a few state slots in the memory (their arrays are views of it), so
 * a call on them copies nothing; any other state (more than the slots, deserialized, another model's of the same
 * shape) is copied into the scratch slot at the start of a call and back at the end. Either way any number of
 * states and models can be interleaved.
 * `prefill`/`forward` run in chunks of `chunkSize` tokens through the same scratch (constant memory; the conv and
 * SSM state carry across chunks exactly as across calls). `step` allocates only the logits it returns.
 *
 * A model of one part keeps up to 4 states in slots of its memory; with several parts a state cannot be one view,
 * so each part copies its layers' slice of the state in at the start of a call and out at the end (for the 7B,
 * 2 × 40 MB per call against 14.5 GB of weights streamed).
 * Threads: kernels take byte offsets and `linear…Rows` computes a row slice, so one worker pool, whose workers
 * hold a kernel instance over every part's memory, splits every large matmul by rows (src/wasm/threads.ts).
 */
import type { ModelConfig } from '../config.ts';
import type { Checkpoint } from '../io/checkpoint.ts';
import { toF32, type DType } from '../io/safetensors.ts';
import { InputError } from '../errors.ts';
import { zeroState, stateFloats, type LoadOptions, type Model, type ModelState } from '../model.ts';
import { checkIds, checkState, type TraceHook } from '../reference/model.ts';
import { blocksPerRow, quantBytes } from '../reference/quant.ts';
import { loadState, saveState } from '../state.ts';
import { compileKernelsBuild, createMemory, instantiateKernels, type Kernels, type SimdBuild } from './kernels.ts';
import { bf16BlockCols, bf16Elements, scatterBf16Rows } from './layout.ts';
import { f32, MemoryPlan, u8 } from './memory.ts';
import { JOB, ThreadPool, type JobId } from './threads.ts';
import { availableParallelism } from 'node:os';

/** How a matrix is held in wasm memory: as stored, or block-quantized (docs/quantization.md, pair layout). */
export type MatrixDType = 'f32' | 'bf16' | 'f16' | 'q8' | 'q4';

/** A matrix (rows, cols) in wasm memory. */
export interface Matrix {
  /** The weights (q8/q4: the quants). */
  ptr: number;
  dtype: MatrixDType;
  rows: number;
  cols: number;
  /** q8/q4: the f32 block scales; 0 otherwise. */
  scales: number;
}

/** Byte offsets of one block's weights; 0 = absent (optional biases). Shapes in glossary units. */
export interface LayerPlan {
  norm: number; // (D) f32
  inProj: Matrix; // (2E, D): rows 0..E−1 → x, E..2E−1 → z
  inProjBias: number; // (2E) f32 | 0
  convWeight: number; // (E, K) f32
  convBias: number; // (E) f32 | 0
  xProj: Matrix; // (R+2N, E)
  dtProj: Matrix; // (E, R)
  dtProjBias: number; // (E) f32
  A: number; // (E, N) f32 = −exp(A_log)
  D: number; // (E) f32
  outProj: Matrix; // (D, E)
  outProjBias: number; // (D) f32 | 0
}

/** Byte offsets of the scratch activations for one chunk of C tokens. */
export interface ScratchPlan {
  ids: number; // (C) i32
  h: number; // (C, D) residual stream
  u: number; // (C, D) normed
  x: number; // (C, E) in_proj x half
  z: number; // (C, E) gate
  xc: number; // (C, E) silu(conv(x))
  dbc: number; // (C, R+2N) x_proj output
  dtr: number; // (C, R) dt rows, contiguous for dt_proj
  delta: number; // (C, E) dt_proj output (before softplus)
  y: number; // (C, E) scan output
  o: number; // (C, D) out_proj output
  hf: number; // (C, D) norm_f output
  logits: number; // (C, V); 0 outside the head's part
  xq: number; // (C, nb·32) int8 quantized activation (q8/q4 models; 0 otherwise), nb = ceil(max inF / 32)
  xd: number; // (C, nb) f32 its block scales
  xz: number; // (C, 2E) whole in_proj output when its halves cannot be split (q8/q4 with odd E); 0 otherwise
  conv: number; // (layers, E, K−1) this part's layers' state, for states that live outside (copied in and out)
  ssm: number; // (layers, E, N)
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
  embeddings: Matrix | null; // (V, D)
  normF: number; // (D) f32; 0 when not in this part
  lmHead: Matrix | null; // (V, D); the same region as `embeddings` when tied
  scratch: ScratchPlan;
  /** Slots for states made by `createState` (views into wasm memory; one-part models only); more fall back to copying. */
  slots: StateSlot[];
  chunkSize: number;
  bytes: number;
  weightBytes: number;
  /** q8/q4 loads: a region holding a chunk of one stored tensor's rows while they are quantized (0 otherwise). */
  staging: number;
}

const DEFAULT_CHUNK = 64;

/** Matrices with fewer weights than this run on the calling thread alone (a hand-off costs a few µs). */
const PARALLEL_MIN_WEIGHTS = 1 << 15;

/**
 * States that live in wasm memory at once. A slot saves copying the whole state in and out on every call
 * (2 × E·(K−1+N)·nLayer floats: 2 × 3.7 MB per decoded token on the small shape, ~1–2 ms of a ~25 ms token).
 */
const STATE_SLOTS = 4;

function matrixDType(stored: DType, wanted: LoadOptions['dtype']): MatrixDType {
  if (wanted === 'f32' || wanted === 'q8' || wanted === 'q4') return wanted;
  if (wanted === 'bf16') return 'bf16';
  return stored === 'F32' ? 'f32' : stored === 'BF16' ? 'bf16' : 'f16';
}

const BYTES: Record<'f32' | 'bf16' | 'f16', number> = { f32: 4, bf16: 2, f16: 2 };
const STORED_BYTES: Partial<Record<DType, number>> = { F32: 4, BF16: 2, F16: 2 };
/** Rows of a stored tensor quantized per chunk at load (even, so each chunk starts a row pair): ~8 MB of them. */
function quantChunkRows(cols: number, storedBytes: number): number {
  return Math.max(2, Math.floor((8 << 20) / (cols * storedBytes)) & ~1);
}

/** Bytes of stored rows read at a time when a bf16 matrix is laid out in column blocks. */
const ROW_CHUNK_BYTES = 8 << 20;
const STORED_CODE: Partial<Record<DType, number>> = { F32: 0, BF16: 1, F16: 2 };

/** Byte offsets of rows [r, …) of `m` (r even for q8/q4: the pair layout keeps an even row start a valid matrix). */
function rowOffset(m: Matrix, r: number): { ptr: number; scales: number } {
  if (m.dtype === 'q8' || m.dtype === 'q4') {
    const nb = blocksPerRow(m.cols);
    return { ptr: m.ptr + r * nb * (m.dtype === 'q8' ? 32 : 16), scales: m.scales + r * nb * 4 };
  }
  if (m.dtype === 'bf16') return { ptr: m.ptr + r * bf16BlockCols(m.cols) * 2, scales: 0 }; // every column block's row r
  return { ptr: m.ptr + r * m.cols * BYTES[m.dtype], scales: 0 };
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
    const dt = matrixDType(stored, dtype);
    if (dt === 'q8' || dt === 'q4') {
      staging = Math.max(staging, Math.min(rows, quantChunkRows(cols, STORED_BYTES[stored] ?? 4)) * cols * (STORED_BYTES[stored] ?? 4));
      const qb = quantBytes(dt, rows, cols);
      return { ptr: plan.alloc(name, qb.quants), dtype: dt, rows, cols, scales: plan.alloc(name + '.scales', qb.scales) };
    }
    const bytes = dt === 'bf16' ? bf16Elements(rows, cols) * 2 : rows * cols * BYTES[dt];
    return { ptr: plan.alloc(name, bytes), dtype: dt, rows, cols, scales: 0 };
  };
  let staging = 0;
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
  const quantized = dtype === 'q8' || dtype === 'q4';
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
    xz: quantized && E % 2 === 1 ? vec('xz', C * 2 * E) : 0,
    conv: vec('state.conv', nL * E * (K - 1)),
    ssm: vec('state.ssm', nL * E * N),
  };
  const slots: StateSlot[] = [];
  const whole = spec.layer0 === 0 && spec.layer1 === nLayer && spec.embeddings && spec.head;
  for (let i = 0; i < (whole ? STATE_SLOTS : 0); i++) {
    slots.push({ conv: vec(`slot${i}.conv`, nLayer * E * (K - 1)), ssm: vec(`slot${i}.ssm`, nLayer * E * N) });
  }
  const stagingPtr = staging ? plan.alloc('staging', staging) : 0;
  return { spec, layers, embeddings, normF, lmHead, scratch, slots, chunkSize: C, bytes: plan.size, weightBytes, staging: stagingPtr };
}

/** The largest memory one part may have: a wasm32 memory's 4 GiB. */
export const MAX_PART_BYTES = 65536 * 65536;

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

/** f32 → bf16 bits, round to nearest even (used only when `dtype: 'bf16'` narrows f32/f16 weights). */
function roundToBf16(src: Float32Array, dst: Uint16Array): void {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) dst[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
}

/**
 * Copies one part's weights from the checkpoint into its planned regions, one tensor at a time, straight into wasm
 * memory (no second copy of the model ever exists); `progress` is called after each tensor.
 */
async function loadWeights(ckpt: Checkpoint, part: WasmPart, pool: ThreadPool | null, progress: (name: string) => void): Promise<void> {
  const { plan, memory, k } = part;
  const vec = async (name: string, ptr: number, map?: (v: number) => number) => {
    const v = await ckpt.readF32(name);
    if (map) for (let i = 0; i < v.length; i++) v[i] = map(v[i]);
    f32(memory, ptr, v.length).set(v);
    progress(name);
  };
  const mat = async (name: string, m: Matrix) => {
    const stored = ckpt.info(name).dtype;
    const n = m.rows * m.cols;
    if (m.dtype === 'q8' || m.dtype === 'q4') {
      // The stored tensor in chunks of rows through the staging region, each quantized into place by the wasm
      // quantizer, its rows split across the pool (exact f64 arithmetic, ~70 M weights/s per thread). A chunk
      // starts at an even row r0, so the pair layout from r0 on is the layout of a matrix of its own.
      const code = STORED_CODE[stored];
      if (code === undefined) throw new InputError(`${name}: cannot quantize a ${stored} tensor`);
      const sb = STORED_BYTES[stored] ?? 4;
      const BS = m.dtype === 'q8' ? 32 : 16;
      const nb = blocksPerRow(m.cols);
      const f = m.dtype === 'q8' ? k.quantizeQ8Rows : k.quantizeQ4Rows;
      const job = m.dtype === 'q8' ? JOB.quantizeQ8Rows : JOB.quantizeQ4Rows;
      const padded = m.dtype === 'q4' ? m.rows + (m.rows & 1) : m.rows; // q4 writes its padding row too
      const chunk = quantChunkRows(m.cols, sb);
      for (let r0 = 0; r0 < m.rows; r0 += chunk) {
        const g = Math.min(chunk, m.rows - r0);
        await ckpt.readRangeInto(name, r0 * m.cols * sb, u8(memory, plan.staging, g * m.cols * sb));
        const count = (r0 + g >= m.rows ? padded : r0 + g) - r0;
        const wq = m.ptr + r0 * nb * BS, wd = m.scales + r0 * nb * 4;
        const args = [wq, wd, plan.staging, m.rows - r0, m.cols, code];
        const run = (a: number, b: number) => f(wq, wd, plan.staging, m.rows - r0, m.cols, code, a, b);
        if (pool && count >= 4) pool.rows(job, args, count, run, part.index);
        else run(0, count);
      }
      progress(name);
      return;
    }
    if (m.dtype === 'bf16' && bf16BlockCols(m.cols) !== m.cols) {
      // Column blocks (src/wasm/layout.ts): stream the rows through a small buffer into their blocks.
      const sb = STORED_BYTES[stored] ?? 4;
      const dst = new Uint16Array(memory.buffer, m.ptr, bf16Elements(m.rows, m.cols));
      const chunk = Math.max(1, Math.floor(ROW_CHUNK_BYTES / (m.cols * sb)));
      const raw = new Uint8Array(Math.min(chunk, m.rows) * m.cols * sb);
      const bits = new Uint16Array(Math.min(chunk, m.rows) * m.cols);
      for (let r0 = 0; r0 < m.rows; r0 += chunk) {
        const g = Math.min(chunk, m.rows - r0);
        const bytes = await ckpt.readRangeInto(name, r0 * m.cols * sb, raw.subarray(0, g * m.cols * sb));
        const rows = stored === 'BF16' ? new Uint16Array(bytes.buffer, 0, g * m.cols) : bits.subarray(0, g * m.cols);
        if (stored !== 'BF16') roundToBf16(toF32(bytes, stored), rows);
        scatterBf16Rows(dst, rows, r0, g, m.cols, m.rows);
      }
    } else if (m.dtype === 'f32' && stored !== 'F32') f32(memory, m.ptr, n).set(await ckpt.readF32(name));
    else if (m.dtype === 'bf16' && stored !== 'BF16') roundToBf16(await ckpt.readF32(name), new Uint16Array(memory.buffer, m.ptr, n));
    else await ckpt.readInto(name, u8(memory, m.ptr, n * BYTES[m.dtype]));
    if (m.dtype === 'bf16') k.bf16Interleave(m.ptr, m.rows, m.cols);
    progress(name);
  };
  const c = ckpt.config;
  if (plan.embeddings) await mat('backbone.embeddings.weight', plan.embeddings);
  for (let j = 0; j < plan.layers.length; j++) {
    const p = `backbone.layers.${plan.spec.layer0 + j}.`;
    const L = plan.layers[j];
    await vec(p + 'norm.weight', L.norm);
    await mat(p + 'mixer.in_proj.weight', L.inProj);
    if (L.inProjBias) await vec(p + 'mixer.in_proj.bias', L.inProjBias);
    await vec(p + 'mixer.conv1d.weight', L.convWeight);
    if (L.convBias) await vec(p + 'mixer.conv1d.bias', L.convBias);
    await mat(p + 'mixer.x_proj.weight', L.xProj);
    await mat(p + 'mixer.dt_proj.weight', L.dtProj);
    await vec(p + 'mixer.dt_proj.bias', L.dtProjBias);
    // A = −exp(A_log), once at load (docs/falcon-mamba-math.md §5 step 12), rounded to f32 like the reference.
    await vec(p + 'mixer.A_log', L.A, (v) => -Math.exp(v));
    await vec(p + 'mixer.D', L.D);
    await mat(p + 'mixer.out_proj.weight', L.outProj);
    if (L.outProjBias) await vec(p + 'mixer.out_proj.bias', L.outProjBias);
  }
  if (plan.lmHead) {
    await vec('backbone.norm_f.weight', plan.normF);
    if (!c.tieWordEmbeddings) await mat('lm_head.weight', plan.lmHead);
  }
}

/** Bytes of a matrix in wasm memory (q8/q4: quants and scales). */
function matrixBytes(m: Matrix): number {
  if (m.dtype === 'q8' || m.dtype === 'q4') {
    const q = quantBytes(m.dtype, m.rows, m.cols);
    return q.quants + q.scales;
  }
  return m.rows * m.cols * BYTES[m.dtype];
}

/** See {@link WasmModel.bytesPerToken}. */
function bytesPerToken(c: ModelConfig, plans: WasmPlan[]): number {
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

/** One part of a loaded model: its plan, its memory and the kernel instance over that memory. */
export interface WasmPart {
  readonly plan: WasmPlan;
  readonly memory: WebAssembly.Memory;
  readonly k: Kernels;
  /** The part's index (its memory's index in the thread pool). */
  readonly index: number;
}

/** The wasm implementation of {@link Model}. Create it with `loadModel(dir, { backend: 'wasm' })`. */
export class WasmModel implements Model {
  readonly backend = 'wasm' as const;
  private disposed = false;
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

  forward(ids: ArrayLike<number>): Float32Array {
    return this.run(this.createState(), ids, true);
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

  /** Threads the matmuls run on (the calling thread included). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  dispose(): void {
    this.disposed = true;
    this.liveParts = [];
    this.pool?.dispose();
  }

  /** Runs a row-sliced kernel over rows [0, rows): split across the pool for large matrices, else alone. */
  private rows(part: WasmPart, job: JobId, args: number[], rows: number, cols: number, run: (r0: number, r1: number) => void): void {
    if (this.pool && rows >= 4 && rows * cols >= PARALLEL_MIN_WEIGHTS) this.pool.rows(job, args, rows, run, part.index);
    else run(0, rows);
  }

  /** out (L, outF) = x (L, inF) @ m ᵀ (+ bias), picking the kernel of the matrix's dtype. */
  private linear(part: WasmPart, out: number, x: number, m: Matrix, bias: number, L: number, rowStart = 0, rows = m.rows, xQuantized = false): void {
    const { ptr: W, scales } = rowOffset(m, rowStart);
    const b = bias ? bias + rowStart * 4 : 0;
    const k = part.k;
    if (m.dtype === 'q8' || m.dtype === 'q4') {
      const s = part.plan.scratch;
      if (!xQuantized) k.quantizeActivationQ8(s.xq, s.xd, x, L, m.cols);
      const f = m.dtype === 'q8' ? k.linearQ8Rows : k.linearQ4Rows;
      const job = m.dtype === 'q8' ? JOB.linearQ8Rows : JOB.linearQ4Rows;
      this.rows(part, job, [out, s.xq, s.xd, W, scales, b, L, m.cols, rows], rows, m.cols, (r0, r1) => f(out, s.xq, s.xd, W, scales, b, L, m.cols, rows, r0, r1));
      return;
    }
    if (m.dtype === 'bf16') {
      const f = k.linearBf16Rows;
      this.rows(part, JOB.linearBf16Rows, [out, x, W, b, L, m.cols, rows, m.rows], rows, m.cols, (r0, r1) => f(out, x, W, b, L, m.cols, rows, m.rows, r0, r1));
      return;
    }
    const f = m.dtype === 'f32' ? k.linearF32Rows : k.linearF16Rows;
    const job = m.dtype === 'f32' ? JOB.linearF32Rows : JOB.linearF16Rows;
    this.rows(part, job, [out, x, W, b, L, m.cols, rows], rows, m.cols, (r0, r1) => f(out, x, W, b, L, m.cols, rows, r0, r1));
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
  trace(ids: ArrayLike<number>, hook: TraceHook): void {
    if (this.disposed) throw new InputError('this model has been disposed');
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
      logits = this.run(state, ids, true);
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
   * One Mamba block over the L tokens in the part's scratch `h` (the wasm twin of reference `mambaBlock`): layer
   * `j` of the part, whose state is at `st` (a slot, or the part's scratch state for its own layers).
   */
  private block(part: WasmPart, j: number, L: number, st: StateSlot): void {
    const c = this.config;
    const k = part.k;
    const { dModel: Dm, dInner: E, dState: N, dConv: K, dtRank: R } = c;
    const w = part.plan.layers[j];
    const s = part.plan.scratch;
    const W = R + 2 * N;
    const conv = st.conv + j * E * (K - 1) * 4;
    const ssm = st.ssm + j * E * N * 4;
    const t = this.tracer;
    const tr = t && ((name: string, ptr: number, rows: number, cols: number, stride?: number, col0?: number) => t(part, name, ptr, rows, cols, stride, col0));
    const p = `layers.${part.plan.spec.layer0 + j}.`;
    tr?.(p + 'input', s.h, L, Dm);
    k.rmsNorm(s.u, s.h, w.norm, L, Dm, c.normEps);
    tr?.(p + 'norm', s.u, L, Dm);
    // in_proj as two matmuls over its two row halves, so x and z land contiguous (L, E) each.
    if (s.xz) {
      // q8/q4 with odd E: row E starts mid-pair, so run the whole matrix and split its output.
      this.linear(part, s.xz, s.u, w.inProj, w.inProjBias, L);
      k.copyRows(s.x, s.xz, L, E, 2 * E);
      k.copyRows(s.z, s.xz + E * 4, L, E, 2 * E);
    } else {
      this.linear(part, s.x, s.u, w.inProj, w.inProjBias, L, 0, E);
      this.linear(part, s.z, s.u, w.inProj, w.inProjBias, L, E, E, true); // the x of in_proj is already quantized (q8/q4)
    }
    tr?.(p + 'mixer.in_proj.x', s.x, L, E);
    tr?.(p + 'mixer.in_proj.z', s.z, L, E);
    // The conv (+ silu), split by channel ranges like the scan.
    const convRows = (c0: number, c1: number) => k.causalConv1dRows(s.xc, s.x, w.convWeight, w.convBias, conv, L, E, K, c0, c1);
    if (this.pool && E >= 8 && E * K * L >= PARALLEL_MIN_WEIGHTS) {
      this.pool.rows(JOB.causalConv1dRows, [s.xc, s.x, w.convWeight, w.convBias, conv, L, E, K], E, convRows, part.index, 4);
    } else convRows(0, E);
    tr?.(p + 'mixer.conv1d.out', s.xc, L, E);
    this.linear(part, s.dbc, s.xc, w.xProj, 0, L);
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
    this.linear(part, s.delta, s.dtr, w.dtProj, w.dtProjBias, L);
    tr?.(p + 'mixer.dt_proj.out', s.delta, L, E);
    const B = s.dbc + R * 4;
    const C = s.dbc + (R + N) * 4;
    // The scan, split by channel ranges across the pool (channels are independent; bounds multiples of 4).
    const scan = (c0: number, c1: number) => k.selectiveScanRows(s.y, s.xc, s.delta, w.A, B, C, w.D, s.z, ssm, L, E, N, W, c0, c1);
    if (this.pool && E >= 8 && E * N * L >= PARALLEL_MIN_WEIGHTS) {
      this.pool.rows(JOB.selectiveScanRows, [s.y, s.xc, s.delta, w.A, B, C, w.D, s.z, ssm, L, E, N, W], E, scan, part.index, 4);
    } else scan(0, E);
    tr?.(p + 'mixer.gated', s.y, L, E);
    this.linear(part, s.o, s.y, w.outProj, w.outProjBias, L);
    tr?.(p + 'mixer.out_proj.out', s.o, L, Dm);
    k.residualAdd(s.h, s.o, L * Dm);
    tr?.(p + 'output', s.h, L, Dm);
  }

  /** Copies the residual stream h (L, D) from one part's scratch to another's. */
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

  /**
   * Feeds `ids` from `state` in chunks of `chunkSize`, advancing it. Returns logits for every position when
   * `allLogits`, else for the last position only (the lm_head runs for that row only).
   */
  run(state: ModelState, ids: ArrayLike<number>, allLogits: boolean): Float32Array {
    if (this.disposed) throw new InputError('this model has been disposed');
    const c = this.config;
    const n = ids.length;
    if (n === 0) throw new InputError('no token ids given');
    checkIds(ids, c.vocabSize);
    checkState(state, c);
    const { dModel: Dm, vocabSize: V } = c;
    const slot = this.slotOf(state);
    if (!slot) this.moveState(state, true);
    const out = new Float32Array((allLogits ? n : 1) * V);
    const Cn = this.liveParts[0].plan.chunkSize;
    const ep = this.embedPart;
    const hp = this.headPart;
    for (let at = 0; at < n; at += Cn) {
      const L = Math.min(Cn, n - at);
      const s = ep.plan.scratch;
      const idv = new Int32Array(ep.memory.buffer, s.ids, L);
      for (let t = 0; t < L; t++) idv[t] = ids[at + t];
      const e = ep.plan.embeddings!;
      const k = ep.k;
      if (e.dtype === 'bf16') k.embedBf16(s.h, e.ptr, s.ids, L, Dm, e.rows);
      else if (e.dtype === 'f32') k.embedF32(s.h, e.ptr, s.ids, L, Dm);
      else if (e.dtype === 'q8') k.embedQ8(s.h, e.ptr, e.scales, s.ids, L, Dm);
      else if (e.dtype === 'q4') k.embedQ4(s.h, e.ptr, e.scales, s.ids, L, Dm);
      else k.embedF16(s.h, e.ptr, s.ids, L, Dm);
      this.tracer?.(ep, 'embeddings', s.h, L, Dm);
      let cur = ep;
      for (const part of this.liveParts) {
        const nl = part.plan.layers.length;
        if (nl === 0) continue;
        cur = this.handOver(cur, part, L);
        const where = slot ?? part.plan.scratch;
        for (let j = 0; j < nl; j++) this.block(part, j, L, where);
      }
      cur = this.handOver(cur, hp, L);
      const hs = hp.plan.scratch;
      if (allLogits) {
        hp.k.rmsNorm(hs.hf, hs.h, hp.plan.normF, L, Dm, c.normEps);
        this.tracer?.(hp, 'norm_f', hs.hf, L, Dm);
        this.linear(hp, hs.logits, hs.hf, hp.plan.lmHead!, 0, L);
        out.set(f32(hp.memory, hs.logits, L * V), at * V);
      } else if (at + L === n) {
        hp.k.rmsNorm(hs.hf, hs.h + (L - 1) * Dm * 4, hp.plan.normF, 1, Dm, c.normEps);
        this.linear(hp, hs.logits, hs.hf, hp.plan.lmHead!, 0, 1);
        out.set(f32(hp.memory, hs.logits, V));
      }
    }
    if (!slot) this.moveState(state, false);
    state.position += n;
    return out;
  }
}

/**
 * Loads a checkpoint into wasm memory and returns the model. `options.dtype`: `auto` (stored dtype,
 * default), `f32` (widen every matrix), `bf16` (keep bf16, round f32/f16 matrices to bf16);
 * `q8`/`q4`: in_proj, x_proj, dt_proj, out_proj, embeddings and
 * lm_head block-quantized at load (docs/quantization.md), dequantized inside the kernels' dot products; conv, A, D,
 * biases and norms stay f32. `options.threads` (default: the cores,
 * `os.availableParallelism()`): matmuls split by rows over that many threads (src/wasm/threads.ts); if workers
 * cannot start, the model runs on 1 thread and says why in `threadNotice`. `options.chunkSize` (default 64):
 * tokens per prefill chunk (scratch memory scales with it). A model over 4 GiB (or `options.maxPartBytes`) is
 * split by layers over several memories ({@link planParts}); weights stream in tensor by tensor, reported to
 * `options.onProgress`.
 */
export async function loadWasmModel(ckpt: Checkpoint, options: LoadOptions = {}): Promise<Model> {
  const dtype = options.dtype ?? 'auto';
  if (!['auto', 'f32', 'bf16', 'q8', 'q4'].includes(dtype)) {
    throw new InputError(`dtype "${dtype}" is not supported (use "auto", "f32", "bf16", "q8" or "q4")`);
  }
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new InputError(`chunkSize must be a positive integer, got ${chunkSize}`);
  const maxPartBytes = options.maxPartBytes ?? MAX_PART_BYTES;
  if (!Number.isInteger(maxPartBytes) || maxPartBytes < 65536 || maxPartBytes > MAX_PART_BYTES) {
    throw new InputError(`maxPartBytes must be an integer from 65536 to ${MAX_PART_BYTES} (4 GiB), got ${maxPartBytes}`);
  }
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new InputError(`threads must be a positive integer, got ${threads}`);
  const simd = options.simd ?? 'auto';
  if (!['auto', 'plain', 'relaxed'].includes(simd)) throw new InputError(`simd "${simd}" is not supported (use "auto", "plain" or "relaxed")`);
  const { module, build } = await compileKernelsBuild(simd);
  // The module's static data ends at __heap_base; read it from a throwaway one-page instance.
  const probe = await instantiateKernels(module, createMemory(1));
  const plans = planParts(ckpt, probe.heapBase(), chunkSize, dtype, maxPartBytes);
  // Every part's memory first (fixed size; pages are only touched as weights arrive), then the pool, so q8/q4
  // quantization at load runs on all threads too.
  const parts: WasmPart[] = [];
  for (const plan of plans) {
    const memory = createMemory(plan.bytes);
    parts.push({ plan, memory, k: await instantiateKernels(module, memory), index: parts.length });
  }
  let pool: ThreadPool | null = null;
  let notice: string | null = null;
  if (threads > 1) {
    try {
      pool = await ThreadPool.start(module, parts.map((p) => p.memory), threads);
    } catch (e) {
      notice = `kernel workers could not start (${e instanceof Error ? e.message : String(e)}); running on 1 thread`;
    }
  }
  if (notice) options.onNotice?.(notice);
  const total = ckpt.totalBytes;
  let loaded = 0;
  const progress = (name: string) => {
    loaded += ckpt.info(name).end - ckpt.info(name).start;
    options.onProgress?.({ loadedBytes: loaded, totalBytes: total, tensor: name });
  };
  try {
    for (const part of parts) await loadWeights(ckpt, part, pool, progress);
  } catch (e) {
    pool?.dispose();
    throw e;
  }
  return new WasmModel(ckpt.config, parts, pool, notice, build);
}
