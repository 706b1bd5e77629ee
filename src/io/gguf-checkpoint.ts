/**
 * A llama.cpp GGUF file of a Mamba-1 / FalconMamba model → the same view of a model as {@link Checkpoint}: a
 * {@link ModelConfig} from the metadata and the weights under their HF names, read lazily tensor by tensor.
 *
 * What llama.cpp's converter (convert_hf_to_gguf.py `MambaModel`) writes, and how it maps back:
 *
 * | metadata key (arch `mamba`)                 | config field  |
 * |---------------------------------------------|---------------|
 * | `mamba.embedding_length`                    | `dModel`      |
 * | `mamba.block_count`                         | `nLayer`      |
 * | `mamba.ssm.inner_size`                      | `dInner`      |
 * | `mamba.ssm.state_size`                      | `dState`      |
 * | `mamba.ssm.conv_kernel`                     | `dConv`       |
 * | `mamba.ssm.time_step_rank`                  | `dtRank`      |
 * | `mamba.attention.layer_norm_rms_epsilon`    | `normEps`     |
 * | `mamba.ssm.dt_b_c_rms` (true = FalconMamba) | `modelType`   |
 * | rows of `token_embd.weight`                 | `vocabSize`   |
 * | `output.weight` absent                      | tied head     |
 * | `blk.0.ssm_in.bias`, `blk.0.ssm_conv1d.bias` present | `useBias`, `useConvBias` |
 *
 * The exactness trap: GGUF has no key for FalconMamba's `mixer_rms_eps`, and llama.cpp normalizes dt, B and C
 * with the layer-norm eps (1e-5 for FalconMamba-7B) where transformers uses `mixer_rms_eps` = 1e-6. This project
 * matches transformers, so the default is 1e-6; `mixerRmsEps: 'llama.cpp'` reproduces llama.cpp's choice.
 *
 * Tensors (ggml lists dimensions innermost first; `shape` below is row-major): `token_embd` (V, H), `output`,
 * `output_norm`, and per block `attn_norm`, `ssm_in` (2E, H), `ssm_conv1d.weight` (E, K) (HF: (E, 1, K)) and
 * `.bias`, `ssm_x` (R+2N, E), `ssm_dt.weight` (E, R) and `.bias`, `ssm_a` (E, N) holding A = −exp(A_log) itself,
 * `ssm_d`, `ssm_out` (H, E). Tensors in a block format (Q8_0, Q4_K, …) are presented as F32 (`info().dtype`):
 * reading one dequantizes it (src/reference/ggml-dequant.ts), so any backend that reads f32 runs the file's own
 * weights, exactly. `ggmlType(name)` tells what is stored, `readBlocks` reads the blocks as stored.
 */
import type { ModelConfig } from '../config.ts';
import { CheckpointError, ConfigError } from '../errors.ts';
import { dequantize } from '../reference/ggml-dequant.ts';
import { nativeLayout } from '../reference/ggml-repack.ts';
import { GGML_BLOCK, readGgufHeader, readGgufTensorInto, type GgmlType, type GgufHeader, type GgufTensorInfo, type GgufValue } from './gguf.ts';
import { expectedTensors, lookupTensors } from './checkpoint.ts';
import type { DType, TensorInfo } from './safetensors.ts';

/** Options of {@link GgufCheckpoint.open}. */
export interface GgufOptions {
  /**
   * eps of FalconMamba's dt/B/C RMS norm, which GGUF does not store: a number, `'transformers'` (default: 1e-6,
   * transformers' `mixer_rms_eps` default, what FalconMamba-7B's config.json leaves it at) or `'llama.cpp'` (the
   * layer-norm eps, what llama.cpp uses).
   */
  mixerRmsEps?: number | 'transformers' | 'llama.cpp';
}

/** Does a model path name a GGUF file (rather than an HF model folder)? */
export function isGgufPath(path: string): boolean {
  return /\.gguf$/i.test(path);
}

/** HF name suffix of a block tensor → its llama.cpp name suffix. */
const BLOCK_NAMES: Record<string, string> = {
  'norm.weight': 'attn_norm.weight',
  'mixer.in_proj.weight': 'ssm_in.weight',
  'mixer.in_proj.bias': 'ssm_in.bias',
  'mixer.conv1d.weight': 'ssm_conv1d.weight',
  'mixer.conv1d.bias': 'ssm_conv1d.bias',
  'mixer.x_proj.weight': 'ssm_x.weight',
  'mixer.dt_proj.weight': 'ssm_dt.weight',
  'mixer.dt_proj.bias': 'ssm_dt.bias',
  'mixer.A_log': 'ssm_a',
  'mixer.D': 'ssm_d',
  'mixer.out_proj.weight': 'ssm_out.weight',
  'mixer.out_proj.bias': 'ssm_out.bias',
};

/** The llama.cpp name of an HF weight name. */
export function ggufTensorName(hf: string): string {
  if (hf === 'backbone.embeddings.weight') return 'token_embd.weight';
  if (hf === 'backbone.norm_f.weight') return 'output_norm.weight';
  if (hf === 'lm_head.weight') return 'output.weight';
  const m = /^backbone\.layers\.(\d+)\.(.+)$/.exec(hf);
  const suffix = m && BLOCK_NAMES[m[2]];
  if (!m || !suffix) throw new CheckpointError(`no GGUF name for tensor "${hf}"`);
  return `blk.${m[1]}.${suffix}`;
}

/** A weight as the loaders see it, plus where the GGUF tensor behind it lives. */
export interface GgufWeightInfo extends TensorInfo {
  /** The tensor in the file. */
  gguf: GgufTensorInfo;
  /**
   * A matrix in a block format: the engine layout its blocks repack into losslessly (src/reference/ggml-repack.ts:
   * Q8_0 and Q5_0 → q8, Q4_0 → q4, Q4_1 / Q5_1 / K-quants → qk), so a loader can keep it quantized instead of
   * reading it as f32.
   */
  nativeQuant?: 'q8' | 'q4' | 'qk';
}

function metaInt(meta: Map<string, GgufValue>, key: string, file: string, fallback?: number): number {
  const v = meta.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${file}: missing metadata "${key}"`);
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ConfigError(`${file}: metadata "${key}" must be a positive integer, got ${String(v)}`);
  if (v > 1 << 24) throw new ConfigError(`${file}: metadata "${key}" = ${v} is implausibly large`);
  return v;
}

function metaId(meta: Map<string, GgufValue>, key: string, file: string): number | null {
  const v = meta.get(key);
  if (v === undefined) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ConfigError(`${file}: metadata "${key}" must be a token id, got ${String(v)}`);
  return v;
}

/**
 * The metadata of a `mamba` GGUF → {@link ModelConfig}. `tensors` decides what GGUF does not say (vocab size,
 * biases, tying).
 * @throws ConfigError naming the file and key.
 */
export function ggufConfig(h: GgufHeader, options: GgufOptions = {}): ModelConfig {
  const { file, metadata: m, tensors } = h;
  const arch = m.get('general.architecture');
  if (arch !== 'mamba') {
    throw new ConfigError(`${file}: general.architecture ${JSON.stringify(arch)} is not supported (expected "mamba": Mamba-1 / FalconMamba)`);
  }
  const falcon = m.get('mamba.ssm.dt_b_c_rms');
  if (falcon !== undefined && typeof falcon !== 'boolean') throw new ConfigError(`${file}: metadata "mamba.ssm.dt_b_c_rms" must be a bool`);
  const epsRaw = m.get('mamba.attention.layer_norm_rms_epsilon');
  if (typeof epsRaw !== 'number' || !(epsRaw > 0) || !Number.isFinite(epsRaw)) {
    throw new ConfigError(`${file}: metadata "mamba.attention.layer_norm_rms_epsilon" must be a positive number, got ${String(epsRaw)}`);
  }
  const embd = tensors.get('token_embd.weight');
  if (!embd) throw new CheckpointError(`${file}: tensor "token_embd.weight" is missing`);
  if (embd.dims.length !== 2) throw new CheckpointError(`${file}: tensor "token_embd.weight" has dims [${embd.dims}], expected [D, V]`);
  const vocabSize = embd.dims[1];
  if (vocabSize <= 0 || vocabSize > 1 << 24) throw new CheckpointError(`${file}: tensor "token_embd.weight" has ${vocabSize} rows`);
  const o = options.mixerRmsEps ?? 'transformers';
  let mixerRmsEps: number;
  if (o === 'transformers') mixerRmsEps = 1e-6;
  else if (o === 'llama.cpp') mixerRmsEps = epsRaw;
  else if (typeof o === 'number' && o > 0 && Number.isFinite(o)) mixerRmsEps = o;
  else throw new ConfigError(`mixerRmsEps must be a positive number, "transformers" or "llama.cpp", got ${JSON.stringify(o)}`);
  const eos = metaId(m, 'tokenizer.ggml.eos_token_id', file);
  return {
    modelType: falcon === true ? 'falcon_mamba' : 'mamba',
    dModel: metaInt(m, 'mamba.embedding_length', file),
    dInner: metaInt(m, 'mamba.ssm.inner_size', file),
    dState: metaInt(m, 'mamba.ssm.state_size', file),
    dConv: metaInt(m, 'mamba.ssm.conv_kernel', file),
    dtRank: metaInt(m, 'mamba.ssm.time_step_rank', file),
    nLayer: metaInt(m, 'mamba.block_count', file),
    vocabSize,
    normEps: epsRaw,
    mixerRmsEps,
    dtBCNorm: falcon === true,
    useBias: tensors.has('blk.0.ssm_in.bias'),
    useConvBias: tensors.has('blk.0.ssm_conv1d.bias'),
    tieWordEmbeddings: !tensors.has('output.weight'),
    bosTokenId: metaId(m, 'tokenizer.ggml.bos_token_id', file),
    eosTokenId: eos === null ? [] : [eos],
    padTokenId: metaId(m, 'tokenizer.ggml.padding_token_id', file),
  };
}

/** A validated GGUF model file: config and tensor locations; weights are read (and dequantized) on demand. */
export class GgufCheckpoint {
  private constructor(
    /** The .gguf file (named `dir` as {@link Checkpoint}'s folder is, so the loaders can name it). */
    readonly dir: string,
    /** The config made from the metadata. */
    readonly config: ModelConfig,
    /** Expected tensors by HF name → where they are; block-format tensors appear as F32. */
    readonly tensors: Map<string, GgufWeightInfo>,
    /** The metadata, as an object (for `info`-style listings). */
    readonly rawConfig: Record<string, unknown>,
    /** The parsed header. */
    readonly header: GgufHeader,
  ) {}

  /** Sum of the stored bytes of all weights the model uses (as in the file). */
  get totalBytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.end - t.start;
    return n;
  }

  /** The dtypes the loaders see (block formats count as F32), with stored byte counts. */
  dtypes(): Map<DType, number> {
    const m = new Map<DType, number>();
    for (const t of this.tensors.values()) m.set(t.dtype, (m.get(t.dtype) ?? 0) + t.end - t.start);
    return m;
  }

  /** The ggml types as stored in the file, with their byte counts. */
  ggmlTypes(): Map<GgmlType, number> {
    const m = new Map<GgmlType, number>();
    for (const t of this.tensors.values()) m.set(t.gguf.type, (m.get(t.gguf.type) ?? 0) + t.end - t.start);
    return m;
  }

  /**
   * Opens a GGUF file and validates its header, its metadata and every tensor's shape against the config.
   * @throws ConfigError / CheckpointError naming the file, key or tensor at fault.
   */
  static async open(file: string, options: GgufOptions = {}): Promise<GgufCheckpoint> {
    const h = await readGgufHeader(file);
    const config = ggufConfig(h, options);
    const found = lookupTensors(config, h.tensors, {
      where: file,
      source: 'the metadata',
      layers: { pattern: /^blk\.(\d+)\./, key: `${file}: metadata "mamba.block_count"`, holder: 'the file' },
      fileOf: () => file,
      storedName: ggufTensorName,
      storedShape: ggufShape,
    });
    const shapes = expectedTensors(config);
    const tensors = new Map<string, GgufWeightInfo>();
    for (const [hf, t] of found) {
      const shape = shapes.get(hf)!;
      const stored = t.type === 'F16' || t.type === 'BF16' || t.type === 'F32' ? t.type : 'F32';
      const nativeQuant = t.dims.length === 2 ? nativeLayout(t.type) : undefined;
      tensors.set(hf, { name: hf, dtype: stored, shape, file, start: t.start, end: t.end, gguf: t, ...(nativeQuant ? { nativeQuant } : {}) });
    }
    const raw: Record<string, unknown> = {};
    for (const [k, v] of h.metadata) raw[k] = typeof v === 'object' && v !== null && 'length' in v ? `[${v.length} items]` : v;
    return new GgufCheckpoint(file, config, tensors, raw, h);
  }

  /** Location of a tensor by HF name; `lm_head.weight` resolves to the embedding when tied. */
  info(name: string): GgufWeightInfo {
    if (name === 'lm_head.weight' && this.config.tieWordEmbeddings) name = 'backbone.embeddings.weight';
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(`${this.dir}: no tensor "${name}"`);
    return t;
  }

  /** The ggml type a weight is stored in. */
  ggmlType(name: string): GgmlType {
    return this.info(name).gguf.type;
  }

  /** The stored blocks of a tensor, as in the file (`out` of its exact byte size, or a fresh buffer). */
  readBlocks(name: string, out?: Uint8Array, offset?: number): Promise<Uint8Array> {
    const t = this.info(name).gguf;
    return readGgufTensorInto(t, out ?? new Uint8Array(t.end - t.start), offset);
  }

  /** Bytes of the tensor in the dtype the loaders see (`info().dtype`): its elements × 2 or 4. */
  private viewBytes(t: GgufWeightInfo): number {
    return t.gguf.elements * (t.dtype === 'F32' ? 4 : 2);
  }

  /** The tensor's bytes in `info().dtype` (a block-format tensor dequantized to f32). */
  async readRaw(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    return this.readRangeInto(name, 0, new Uint8Array(this.viewBytes(t)));
  }

  /** Reads the whole tensor, in `info().dtype`, into `out` (its exact byte length). */
  readInto(name: string, out: Uint8Array): Promise<Uint8Array> {
    const t = this.info(name);
    if (out.length !== this.viewBytes(t)) {
      throw new CheckpointError(`${this.dir}: tensor "${t.gguf.name}" has ${this.viewBytes(t)} bytes as ${t.dtype}, cannot read ${out.length}`);
    }
    return this.readRangeInto(name, 0, out);
  }

  /**
   * Reads `out.length` bytes of the tensor as `info().dtype`, from byte `offset` of that view, into `out`. Stored
   * F32/F16/BF16 bytes are read as they are; a block-format tensor's covering rows are read and dequantized.
   */
  async readRangeInto(name: string, offset: number, out: Uint8Array): Promise<Uint8Array> {
    const t = this.info(name);
    const g = t.gguf;
    const size = this.viewBytes(t);
    if (!(Number.isInteger(offset) && offset >= 0 && offset + out.length <= size)) {
      throw new CheckpointError(`${this.dir}: tensor "${g.name}" has ${size} bytes as ${t.dtype}, cannot read ${out.length} bytes at offset ${offset}`);
    }
    if (name.endsWith('.mixer.A_log')) {
      // For a loader that asks for A_log: log(−A), rounded to f32 (readA gives A itself, exactly).
      const A = await this.readA(Number(/layers\.(\d+)\./.exec(name)![1]));
      const logA = A.map((a) => Math.log(-a));
      out.set(new Uint8Array(logA.buffer, offset, out.length));
      return out;
    }
    if (g.type === t.dtype) return readGgufTensorInto(g, out, offset);
    if (offset % 4 !== 0 || out.length % 4 !== 0) throw new CheckpointError(`${this.dir}: tensor "${g.name}": f32 reads must be whole elements`);
    // Rows are whole blocks: read the rows that cover the range, dequantize them, copy the part asked for.
    const cols = g.dims[0];
    const { elements: be, bytes: bb } = GGML_BLOCK[g.type];
    const rowBytes = (cols / be) * bb;
    const e0 = offset / 4, e1 = e0 + out.length / 4;
    const r0 = Math.floor(e0 / cols), r1 = Math.ceil(e1 / cols);
    // At most ~8 MB of rows at a time, so a whole-tensor read of a large matrix never holds a second f32 copy.
    const dst = new Float32Array(out.buffer, out.byteOffset, out.length / 4);
    const step = Math.max(1, Math.floor((8 << 20) / (cols * 4)));
    for (let r = r0; r < r1; r += step) {
      const re = Math.min(r1, r + step);
      const blocks = await readGgufTensorInto(g, new Uint8Array((re - r) * rowBytes), r * rowBytes);
      const rows = dequantize(g.type, blocks);
      const from = Math.max(e0, r * cols), to = Math.min(e1, re * cols);
      dst.set(rows.subarray(from - r * cols, to - r * cols), from - e0);
    }
    return out;
  }

  /** One tensor as f32: widened or dequantized, exactly (`…mixer.A_log`: log(−A), see {@link readA}). */
  async readF32(name: string): Promise<Float32Array> {
    const t = this.info(name);
    const bytes = await this.readRaw(name);
    if (t.dtype === 'F32') return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    return dequantize(t.dtype, bytes);
  }

  /**
   * A block's A (E, N) as stored: GGUF keeps A = −exp(A_log) itself, so a loader that takes A from here runs the
   * file's values with no log/exp round trip. Every element must be negative and finite (the scan's decay
   * exp(Δ·A) must stay below 1).
   */
  async readA(layer: number): Promise<Float32Array> {
    const g = this.info(`backbone.layers.${layer}.mixer.A_log`).gguf;
    const A = dequantize(g.type, await readGgufTensorInto(g, new Uint8Array(g.end - g.start)));
    for (let i = 0; i < A.length; i++) {
      if (!(A[i] < 0) || !Number.isFinite(A[i])) throw new CheckpointError(`${this.dir}: tensor "${g.name}" element ${i} is ${A[i]}; A must be negative and finite`);
    }
    return A;
  }
}

/** The row-major shape a GGUF tensor has for an HF tensor of `shape` (conv1d is squeezed to (E, K)). */
function ggufShape(hf: string, shape: number[]): number[] {
  return hf.endsWith('mixer.conv1d.weight') ? [shape[0], shape[2]] : shape;
}
