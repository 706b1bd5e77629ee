/**
 * Synthetic FalconMamba checkpoints for benchmarks: a valid HF model folder (config.json + model.safetensors)
 * with seeded random weights of realistic scale, so every activation stays finite and the numbers mean something.
 *
 * The "small" shape (the shape of the llama.cpp anchors in bench/bench.ts): dModel 1024, 24 layers, dInner 2048,
 * dState 16, dtRank 64, dConv 4, vocab 65024, untied lm_head, bf16 → 293M parameters, ~586 MB.
 * Written tensor by tensor (never the whole file in memory) into models/synthetic-small/ (git-ignored).
 *
 * The 7B shape: {@link ensureSynthetic7B}, sharded like the released checkpoint.
 *
 * Run alone: `npx tsx bench/synthetic.ts [small|7b] [dir]`.
 */
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The HF config of the synthetic small shape. */
export const SMALL_CONFIG = {
  architectures: ['FalconMambaForCausalLM'],
  model_type: 'falcon_mamba',
  hidden_size: 1024,
  intermediate_size: 2048,
  state_size: 16,
  conv_kernel: 4,
  time_step_rank: 64,
  num_hidden_layers: 24,
  vocab_size: 65024,
  layer_norm_epsilon: 1e-5,
  mixer_rms_eps: 1e-6,
  use_bias: false,
  use_conv_bias: true,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
};

type Init = { kind: 'uniform'; scale: number; offset?: number } | { kind: 'alog' };

interface Spec {
  name: string;
  shape: number[];
  init: Init;
}

/** The tensors of a config, with the distribution each is drawn from (scales as in HF's `_init_weights`). */
function tensorSpecs(c: typeof SMALL_CONFIG): Spec[] {
  const { hidden_size: H, intermediate_size: E, state_size: N, conv_kernel: K, time_step_rank: R, vocab_size: V } = c;
  const u = (scale: number, offset = 0): Init => ({ kind: 'uniform', scale, offset });
  const specs: Spec[] = [{ name: 'backbone.embeddings.weight', shape: [V, H], init: u(1) }];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `backbone.layers.${i}.`;
    specs.push(
      { name: p + 'norm.weight', shape: [H], init: u(0.1, 1) },
      { name: p + 'mixer.in_proj.weight', shape: [2 * E, H], init: u(1 / Math.sqrt(H)) },
      { name: p + 'mixer.conv1d.weight', shape: [E, 1, K], init: u(0.5) },
      { name: p + 'mixer.conv1d.bias', shape: [E], init: u(0.2) },
      { name: p + 'mixer.x_proj.weight', shape: [R + 2 * N, E], init: u(1 / Math.sqrt(E)) },
      { name: p + 'mixer.dt_proj.weight', shape: [E, R], init: u(1 / Math.sqrt(R)) },
      // softplus⁻¹ of dt ∈ [1e-3, 1e-1] (HF `dt_init`), i.e. about −6.9 .. −2.3.
      { name: p + 'mixer.dt_proj.bias', shape: [E], init: u(2.3, -4.6) },
      { name: p + 'mixer.A_log', shape: [E, N], init: { kind: 'alog' } },
      { name: p + 'mixer.D', shape: [E], init: u(0.1, 1) },
      // Small out_proj so the residual stream grows slowly over 24 layers (HF rescales it by 1/sqrt(nLayer)).
      { name: p + 'mixer.out_proj.weight', shape: [H, E], init: u(1 / Math.sqrt(E * c.num_hidden_layers)) },
    );
  }
  specs.push({ name: 'backbone.norm_f.weight', shape: [H], init: u(0.1, 1) });
  specs.push({ name: 'lm_head.weight', shape: [V, H], init: u(1 / Math.sqrt(H)) });
  return specs;
}

/** Fills `out` with bf16 bits of the tensor's values (xorshift32 stream seeded per tensor; truncating round). */
function fillBf16(out: Uint16Array, spec: Spec, seed: number): void {
  let s = (seed * 2654435761) >>> 0 || 1;
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const N = spec.shape[spec.shape.length - 1];
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const r = s / 4294967296; // [0, 1)
    if (spec.init.kind === 'alog') f[0] = Math.log(1 + (i % N)); // HF: A = arange(1, N+1) per channel
    else f[0] = (spec.init.offset ?? 0) + (r * 2 - 1) * spec.init.scale;
    out[i] = u[0] >>> 16;
  }
}

/**
 * Bytes per bf16 value pool. Tensors larger than a pool are filled by copying from a pool drawn once per
 * distribution at a seeded offset: the values repeat with a long period (irrelevant for speed measurements)
 * and a 14.5 GB checkpoint is written at disk speed instead of drawing 7.3 billion random numbers.
 */
const POOL_VALUES = 1 << 23;

/** Writes `count` bf16 values of `spec` to `fd`, from a per-distribution pool for large tensors. */
function writeTensor(fd: number, spec: Spec, seed: number, pools: Map<string, Uint16Array>): void {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  if (count <= POOL_VALUES || spec.init.kind === 'alog') {
    const data = new Uint16Array(count);
    fillBf16(data, spec, seed);
    writeSync(fd, new Uint8Array(data.buffer));
    return;
  }
  const key = JSON.stringify(spec.init);
  let pool = pools.get(key);
  if (!pool) {
    pool = new Uint16Array(POOL_VALUES);
    fillBf16(pool, spec, pools.size + 1000);
    pools.set(key, pool);
  }
  const bytes = new Uint8Array(pool.buffer);
  let start = ((seed * 2654435761) >>> 0) % POOL_VALUES;
  for (let left = count; left > 0; ) {
    const n = Math.min(left, POOL_VALUES - start);
    writeSync(fd, bytes, start * 2, n * 2);
    left -= n;
    start = 0;
  }
}

/** Options of {@link writeSynthetic}. */
export interface SyntheticOptions {
  /** Start a new shard when the next tensor would pass this many bytes (HF `max_shard_size`). Default: one file. */
  maxShardBytes?: number;
}

/**
 * Writes a synthetic bf16 checkpoint of `config` into `dir`: config.json + model.safetensors, or shards
 * `model-0000i-of-0000n.safetensors` with `model.safetensors.index.json` (tensors in model order, as
 * `save_pretrained` writes them; the index maps every name to its shard).
 */
export function writeSynthetic(dir: string, config = SMALL_CONFIG, options: SyntheticOptions = {}): void {
  mkdirSync(dir, { recursive: true });
  const specs = tensorSpecs(config);
  const limit = options.maxShardBytes ?? Infinity;
  const shards: Spec[][] = [[]];
  let inShard = 0;
  let total = 0;
  for (const s of specs) {
    const bytes = s.shape.reduce((a, b) => a * b, 1) * 2;
    if (inShard > 0 && inShard + bytes > limit) {
      shards.push([]);
      inShard = 0;
    }
    shards[shards.length - 1].push(s);
    inShard += bytes;
    total += bytes;
  }
  const n = shards.length;
  const names = shards.map((_, i) =>
    n === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`,
  );
  const pools = new Map<string, Uint16Array>();
  let seed = 1;
  shards.forEach((shard, i) => {
    const header: Record<string, unknown> = { __metadata__: { format: 'pt', note: 'synthetic random weights (bench/synthetic.ts)' } };
    let at = 0;
    for (const s of shard) {
      const bytes = s.shape.reduce((a, b) => a * b, 1) * 2;
      header[s.name] = { dtype: 'BF16', shape: s.shape, data_offsets: [at, at + bytes] };
      at += bytes;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8); // 8-byte alignment of the data section
    const file = join(dir, names[i]);
    const tmp = file + '.partial';
    const fd = openSync(tmp, 'w');
    try {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      writeSync(fd, len);
      writeSync(fd, Buffer.from(json, 'utf8'));
      for (const s of shard) writeTensor(fd, s, seed++, pools);
    } finally {
      closeSync(fd);
    }
    // Rename only when complete, so an interrupted run never leaves a truncated checkpoint behind.
    renameSync(tmp, file);
  });
  if (n > 1) {
    const weightMap: Record<string, string> = {};
    shards.forEach((shard, i) => shard.forEach((s) => (weightMap[s.name] = names[i])));
    const sorted = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]]));
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: sorted }, null, 2));
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
}

/**
 * The config of falcon-mamba-7b (docs/math.md §1–3), including its `expand: 16` trap:
 * 7,272,665,088 bf16 parameters = 14,545,330,176 bytes, exactly the real index's `total_size`.
 */
export const FALCON_7B_CONFIG = {
  ...SMALL_CONFIG,
  hidden_size: 4096,
  intermediate_size: 8192,
  expand: 16,
  time_step_rank: 256,
  num_hidden_layers: 64,
  bos_token_id: 0,
  eos_token_id: 11,
  pad_token_id: 0,
};

/** The real checkpoint's byte count: the synthetic 7B must equal it. */
export const FALCON_7B_BYTES = 14_545_330_176;

/**
 * The synthetic 7B checkpoint's folder (models/synthetic-7b/, git-ignored), written first if absent:
 * 3 shards under HF's default 5 GB `max_shard_size`, like the released checkpoint (4.96 / 4.99 / 4.6 GB).
 * Needs ~14.6 GB of disk; takes about a minute. The Falcon tokenizer is linked in (`linkFalconTokenizer`).
 */
export function ensureSynthetic7B(dir = resolve(dirname(fileURLToPath(import.meta.url)), '../models/synthetic-7b')): string {
  const index = join(dir, 'model.safetensors.index.json');
  let ok = existsSync(join(dir, 'config.json')) && existsSync(index);
  if (ok) {
    const { metadata, weight_map } = JSON.parse(readFileSync(index, 'utf8'));
    const files = new Set<string>(Object.values(weight_map));
    ok = metadata.total_size === FALCON_7B_BYTES && [...files].every((f) => existsSync(join(dir, f)));
  }
  if (!ok) writeSynthetic(dir, FALCON_7B_CONFIG, { maxShardBytes: 5e9 });
  linkFalconTokenizer(dir);
  return dir;
}

/**
 * Links the real Falcon tokenizer (../shared/tokenizers/falcon/tokenizer.json, public data kept outside the repo)
 * into a synthetic folder, so the CLI runs on it end to end (`falcon-mamba generate --model models/synthetic-7b`).
 * The weights are random, so the text is noise; the point is load, speed and memory. Skipped when shared/ is absent.
 */
function linkFalconTokenizer(dir: string): void {
  const shared = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared/tokenizers/falcon/tokenizer.json');
  const link = join(dir, 'tokenizer.json');
  let present = false;
  try {
    lstatSync(link);
    present = true;
  } catch {}
  if (!present && existsSync(shared)) symlinkSync(shared, link);
}

/** The synthetic small checkpoint's folder, written first if absent (~586 MB, some seconds). */
export function ensureSyntheticSmall(dir = resolve(dirname(fileURLToPath(import.meta.url)), '../models/synthetic-small')): string {
  const ok = existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'model.safetensors')) && statSync(join(dir, 'model.safetensors')).size > 500e6;
  if (!ok) writeSynthetic(dir);
  linkFalconTokenizer(dir);
  return dir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // npx tsx bench/synthetic.ts [small|7b] [dir]
  const which = process.argv[2] ?? 'small';
  const dir = process.argv[3] ? resolve(process.argv[3]) : undefined;
  const out = which === '7b' ? ensureSynthetic7B(dir) : ensureSyntheticSmall(dir);
  process.stdout.write(`synthetic ${which} checkpoint in ${out}\n`);
}
