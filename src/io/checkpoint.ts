/**
 * An HF model folder → config + a validated map of weight tensors, read lazily tensor by tensor.
 *
 * Folder layout (as `save_pretrained` writes it): `config.json`, then either `model.safetensors` or
 * `model.safetensors.index.json` + shards. Every header is validated and every expected tensor is checked for
 * presence and shape before any weight byte is read, so a broken folder fails fast with a message naming the
 * file and tensor. Nothing is widened here: callers read one tensor at a time in its stored dtype, so a
 * 14.5 GB bf16 checkpoint never needs a second full copy.
 */
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseConfig, type ModelConfig } from '../config.ts';
import { CheckpointError, ConfigError } from '../errors.ts';
import { readTextFile } from './files.ts';
import { readSafetensorsHeader, readTensorBytes, readTensorInto, toF32, type DType, type TensorInfo } from './safetensors.ts';

/**
 * Reads and parses a JSON file (a regular file of at most 16 MiB, see src/io/files.ts), naming it in any
 * error. Returns `undefined` if the file is absent and optional.
 */
export async function readJsonFile(path: string, optional = false): Promise<unknown> {
  const text = await readTextFile(path, ConfigError, { optional, what: 'JSON file' });
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** The canonical HF weight names of a config, with their shapes (docs/math.md §3). */
export function expectedTensors(c: ModelConfig): Map<string, number[]> {
  const { dModel: H, dInner: E, dState: N, dConv: K, dtRank: R, vocabSize: V } = c;
  const m = new Map<string, number[]>();
  m.set('backbone.embeddings.weight', [V, H]);
  for (let i = 0; i < c.nLayer; i++) {
    const p = `backbone.layers.${i}.`;
    m.set(p + 'norm.weight', [H]);
    m.set(p + 'mixer.in_proj.weight', [2 * E, H]);
    if (c.useBias) m.set(p + 'mixer.in_proj.bias', [2 * E]);
    m.set(p + 'mixer.conv1d.weight', [E, 1, K]);
    if (c.useConvBias) m.set(p + 'mixer.conv1d.bias', [E]);
    m.set(p + 'mixer.x_proj.weight', [R + 2 * N, E]);
    m.set(p + 'mixer.dt_proj.weight', [E, R]);
    m.set(p + 'mixer.dt_proj.bias', [E]);
    m.set(p + 'mixer.A_log', [E, N]);
    m.set(p + 'mixer.D', [E]);
    m.set(p + 'mixer.out_proj.weight', [H, E]);
    if (c.useBias) m.set(p + 'mixer.out_proj.bias', [H]);
  }
  m.set('backbone.norm_f.weight', [H]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [V, H]);
  return m;
}

/** A validated model folder: config and tensor locations; weight bytes are read on demand. */
export class Checkpoint {
  private constructor(
    /** The model folder. */
    readonly dir: string,
    /** The normalized config.json. */
    readonly config: ModelConfig,
    /** Expected tensors by canonical name → where they are stored. */
    readonly tensors: Map<string, TensorInfo>,
    /** The raw parsed config.json. */
    readonly rawConfig: Record<string, unknown>,
  ) {}

  /** Sum of the stored bytes of all weights the model uses. */
  get totalBytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.end - t.start;
    return n;
  }

  /** Stored dtypes of the weights, with their byte counts. */
  dtypes(): Map<DType, number> {
    const m = new Map<DType, number>();
    for (const t of this.tensors.values()) m.set(t.dtype, (m.get(t.dtype) ?? 0) + t.end - t.start);
    return m;
  }

  /**
   * Opens an HF model folder and validates config.json and every safetensors header against the config.
   * @throws ConfigError / CheckpointError naming the file, tensor or field at fault.
   */
  static async open(dir: string): Promise<Checkpoint> {
    try {
      if (!(await stat(dir)).isDirectory()) throw new Error();
    } catch {
      throw new CheckpointError(`${dir}: not a model folder (expected a directory with config.json and *.safetensors)`);
    }
    const configPath = join(dir, 'config.json');
    const raw = await readJsonFile(configPath);
    const config = parseConfig(raw, configPath);

    const found = await readAllHeaders(dir);
    // Original mamba_ssm checkpoints name the embedding `backbone.embedding.weight`; HF's load hook renames it.
    if (!found.has('backbone.embeddings.weight') && found.has('backbone.embedding.weight')) {
      const t = found.get('backbone.embedding.weight')!;
      found.delete('backbone.embedding.weight');
      found.set('backbone.embeddings.weight', { ...t, name: 'backbone.embeddings.weight' });
    }
    const tensors = lookupTensors(config, found, {
      where: dir,
      source: 'config.json',
      layers: { pattern: /^backbone\.layers\.(\d+)\./, key: `${configPath}: num_hidden_layers`, holder: `the checkpoint in ${dir}` },
      fileOf: (t) => t.file,
      // A tied head may still be saved; it must then be the embedding's shape. Its bytes are not used.
      extra: (name, t) => {
        if (name !== 'lm_head.weight' || !config.tieWordEmbeddings) return false;
        const [V, H] = [config.vocabSize, config.dModel];
        if (t.shape.length !== 2 || t.shape[0] !== V || t.shape[1] !== H) {
          throw new CheckpointError(`${t.file}: tensor "lm_head.weight" has shape [${t.shape}], expected [${V},${H}]`);
        }
        return true;
      },
    });
    return new Checkpoint(dir, config, tensors, raw as Record<string, unknown>);
  }

  /** Location of a tensor by canonical name; `lm_head.weight` resolves to the embedding when tied. */
  info(name: string): TensorInfo {
    if (name === 'lm_head.weight' && this.config.tieWordEmbeddings) name = 'backbone.embeddings.weight';
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(`${this.dir}: no tensor "${name}"`);
    return t;
  }

  /** The stored bytes of one tensor (its dtype is `info(name).dtype`). */
  readRaw(name: string): Promise<Uint8Array> {
    return readTensorBytes(this.info(name));
  }

  /** Reads one tensor's stored bytes into `out` (its exact byte length), e.g. straight into wasm memory. */
  readInto(name: string, out: Uint8Array): Promise<Uint8Array> {
    return readTensorInto(this.info(name), out);
  }

  /** Reads `out.length` stored bytes of one tensor, from byte `offset` of it, into `out` (a chunk of its rows). */
  readRangeInto(name: string, offset: number, out: Uint8Array): Promise<Uint8Array> {
    return readTensorInto(this.info(name), out, offset);
  }

  /** One tensor widened to f32 (exact for bf16 and f16). */
  async readF32(name: string): Promise<Float32Array> {
    const t = this.info(name);
    return toF32(await readTensorBytes(t), t.dtype);
  }
}

/** How {@link lookupTensors} names what it finds in one file format. */
export interface TensorLookup<T> {
  /** The folder or file, named when a tensor is missing. */
  where: string;
  /** Where the expected shapes come from, for messages (`config.json`, `the metadata`). */
  source: string;
  /**
   * Stored names of block tensors (the layer index is group 1), the key that states the layer count and what holds
   * the tensors, for the count check.
   */
  layers: { pattern: RegExp; key: string; holder: string };
  /** The file a found tensor is in (named in shape errors). */
  fileOf: (t: T) => string;
  /** The stored name of a canonical (HF) name; default: the same. */
  storedName?: (hf: string) => string;
  /** The stored shape of a canonical tensor of `shape`; default: the same. */
  storedShape?: (hf: string, shape: number[]) => number[];
  /** Whether an unexpected stored tensor is allowed (it may throw a more precise error itself). */
  extra?: (name: string, t: T) => boolean;
}

/**
 * The tensors a model of `config` needs (`expectedTensors`), looked up in what a file holds (`found`, by stored
 * name): each must be there with its expected shape, and nothing else may be (unless `how.extra` allows it); the
 * layer count is checked against the tensors first, so a config claiming 16,777,216 layers fails at once instead
 * of building 200 M names (20–40 s, 2 GB) before the first missing tensor. Both checkpoint formats use it
 * (safetensors folders here, GGUF files in gguf-checkpoint.ts).
 * @returns canonical name → the found tensor
 * @throws CheckpointError naming the file and tensor
 */
export function lookupTensors<T extends { shape: number[] }>(config: ModelConfig, found: Map<string, T>, how: TensorLookup<T>): Map<string, T> {
  const layers = new Set<number>();
  for (const name of found.keys()) {
    const m = how.layers.pattern.exec(name);
    if (m) layers.add(Number(m[1]));
  }
  if (config.nLayer > layers.size) {
    throw new CheckpointError(`${how.layers.key} is ${config.nLayer} but ${how.layers.holder} has tensors for ${layers.size} layers`);
  }
  const expected = expectedTensors(config);
  const out = new Map<string, T>();
  const used = new Set<string>();
  for (const [hf, shape] of expected) {
    const name = how.storedName ? how.storedName(hf) : hf;
    const want = how.storedShape ? how.storedShape(hf, shape) : shape;
    const t = found.get(name);
    if (!t) throw new CheckpointError(`${how.where}: tensor "${name}" is missing (expected shape [${want}])`);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new CheckpointError(`${how.fileOf(t)}: tensor "${name}" has shape [${t.shape}], expected [${want}] from ${how.source}`);
    }
    used.add(name);
    out.set(hf, t);
  }
  for (const [name, t] of found) {
    if (used.has(name) || how.extra?.(name, t)) continue;
    throw new CheckpointError(`${how.fileOf(t)}: unexpected tensor "${name}" (shape [${t.shape}]) for ${config.modelType} with ${config.nLayer} layers`);
  }
  return out;
}

/** All tensors of the folder: from `model.safetensors`, or from the shards named by the index. */
async function readAllHeaders(dir: string): Promise<Map<string, TensorInfo>> {
  const indexPath = join(dir, 'model.safetensors.index.json');
  const index = await readJsonFile(indexPath, true);
  const all = new Map<string, TensorInfo>();
  if (index === undefined) {
    const file = join(dir, 'model.safetensors');
    try {
      await stat(file);
    } catch {
      throw new CheckpointError(`${dir}: no model.safetensors or model.safetensors.index.json`);
    }
    for (const [n, t] of (await readSafetensorsHeader(file)).tensors) all.set(n, t);
    return all;
  }
  const weightMap = (index as { weight_map?: unknown })?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new CheckpointError(`${indexPath}: missing "weight_map" object`);
  }
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard !== basename(shard) || shard === '..' || shard === '.' || !shard.endsWith('.safetensors')) {
      throw new CheckpointError(`${indexPath}: tensor "${name}" maps to an invalid shard name ${JSON.stringify(shard)}`);
    }
    if (!shards.has(shard)) shards.set(shard, []);
    shards.get(shard)!.push(name);
  }
  for (const [shard, names] of shards) {
    const header = await readSafetensorsHeader(join(dir, shard));
    for (const name of names) {
      const t = header.tensors.get(name);
      if (!t) throw new CheckpointError(`${header.file}: tensor "${name}" is listed in the index but not in this shard`);
      all.set(name, t);
    }
    for (const name of header.tensors.keys()) {
      if (!all.has(name)) throw new CheckpointError(`${header.file}: tensor "${name}" is in the shard but not in the index`);
    }
  }
  return all;
}
