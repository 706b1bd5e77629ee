/**
 * Synthetic FalconMamba checkpoints for benchmarks: a valid HF model folder (config.json + model.safetensors)
 * with seeded random weights of realistic scale, so every activation stays finite and the numbers mean something.
 *
 * The "small" shape (docs/perf-notes: the shape llama.cpp was measured on): dModel 1024, 24 layers, dInner 2048,
 * dState 16, dtRank 64, dConv 4, vocab 65024, untied lm_head, bf16 → 293M parameters, ~586 MB.
 * Written tensor by tensor (never the whole file in memory) into models/synthetic-small/ (git-ignored).
 *
 * Run alone: `npx tsx bench/synthetic.ts [dir]`.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
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

/** Writes a synthetic bf16 checkpoint of `config` into `dir` (config.json + model.safetensors). */
export function writeSynthetic(dir: string, config = SMALL_CONFIG): void {
  mkdirSync(dir, { recursive: true });
  const specs = tensorSpecs(config);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', note: 'synthetic random weights (bench/synthetic.ts)' } };
  let at = 0;
  for (const s of specs) {
    const bytes = s.shape.reduce((a, b) => a * b, 1) * 2;
    header[s.name] = { dtype: 'BF16', shape: s.shape, data_offsets: [at, at + bytes] };
    at += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // 8-byte alignment of the data section
  const file = join(dir, 'model.safetensors');
  const tmp = file + '.partial';
  const fd = openSync(tmp, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, 'utf8'));
    specs.forEach((s, i) => {
      const data = new Uint16Array(s.shape.reduce((a, b) => a * b, 1));
      fillBf16(data, s, i + 1);
      writeSync(fd, new Uint8Array(data.buffer));
    });
  } finally {
    closeSync(fd);
  }
  // Rename only when complete, so an interrupted run never leaves a truncated checkpoint behind.
  renameSync(tmp, file);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
}

/** The synthetic small checkpoint's folder, written first if absent (~586 MB, some seconds). */
export function ensureSyntheticSmall(dir = resolve(dirname(fileURLToPath(import.meta.url)), '../models/synthetic-small')): string {
  const ok = existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'model.safetensors')) && statSync(join(dir, 'model.safetensors')).size > 500e6;
  if (!ok) writeSynthetic(dir);
  return dir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = ensureSyntheticSmall(process.argv[2] ? resolve(process.argv[2]) : undefined);
  process.stdout.write(`synthetic small checkpoint in ${dir}\n`);
}
