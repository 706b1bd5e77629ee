/**
 * Builds small random HF model folders in a temp dir, for specs that need a model of a given shape
 * (loader bad-input cases, state equivalences, kernels vs reference). Values are seeded and of realistic
 * scale: A_log spread so exp(A·dt) covers (0, 1); dt bias in (−4, 1), so softplus stays in its log1p branch here
 * (its bend and the identity above 20 are pinned by spec/kernels/softplus.spec.ts and the fixtures' dt biases).
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, type TensorToWrite } from '../../src/io/safetensors.ts';

export interface TinyShape {
  model_type?: 'falcon_mamba' | 'mamba';
  hidden_size: number;
  intermediate_size: number;
  state_size: number;
  conv_kernel: number;
  time_step_rank: number;
  num_hidden_layers: number;
  vocab_size: number;
  use_bias?: boolean;
  use_conv_bias?: boolean;
  tie_word_embeddings?: boolean;
  [key: string]: unknown;
}

/** mulberry32: a tiny seeded PRNG; each call site owns its own generator. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(n: number, scale: number, r: () => number, offset = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = offset + (r() * 2 - 1) * scale;
  return a;
}

/** Random weights for a shape, keyed by HF tensor names (f32). */
export function randomTensors(s: TinyShape, seed = 1): Map<string, TensorToWrite> {
  const r = rng(seed);
  const { hidden_size: H, intermediate_size: E, state_size: N, conv_kernel: K, time_step_rank: R, vocab_size: V } = s;
  const m = new Map<string, TensorToWrite>();
  const put = (name: string, shape: number[], scale: number, offset = 0) =>
    m.set(name, { shape, data: randomArray(shape.reduce((a, b) => a * b, 1), scale, r, offset) });
  put('backbone.embeddings.weight', [V, H], 1);
  for (let i = 0; i < s.num_hidden_layers; i++) {
    const p = `backbone.layers.${i}.`;
    put(p + 'norm.weight', [H], 0.3, 1);
    put(p + 'mixer.in_proj.weight', [2 * E, H], 1 / Math.sqrt(H));
    if (s.use_bias) put(p + 'mixer.in_proj.bias', [2 * E], 0.1);
    put(p + 'mixer.conv1d.weight', [E, 1, K], 0.5);
    if (s.use_conv_bias !== false) put(p + 'mixer.conv1d.bias', [E], 0.2);
    put(p + 'mixer.x_proj.weight', [R + 2 * N, E], 1 / Math.sqrt(E));
    put(p + 'mixer.dt_proj.weight', [E, R], 1 / Math.sqrt(R));
    put(p + 'mixer.dt_proj.bias', [E], 2.5, -1.5);
    put(p + 'mixer.A_log', [E, N], 1.5, 0.5);
    put(p + 'mixer.D', [E], 0.5, 1);
    put(p + 'mixer.out_proj.weight', [H, E], 1 / Math.sqrt(E));
    if (s.use_bias) put(p + 'mixer.out_proj.bias', [H], 0.1);
  }
  put('backbone.norm_f.weight', [H], 0.3, 1);
  if (s.tie_word_embeddings === false) put('lm_head.weight', [V, H], 1 / Math.sqrt(H));
  return m;
}

export const TINY: TinyShape = {
  model_type: 'falcon_mamba',
  hidden_size: 12,
  intermediate_size: 22,
  state_size: 5,
  conv_kernel: 4,
  time_step_rank: 3,
  num_hidden_layers: 2,
  vocab_size: 50,
  tie_word_embeddings: false,
};

/** Writes config.json + model.safetensors for `shape` into a fresh temp dir and returns its path. */
export function writeTinyModel(shape: TinyShape = TINY, seed = 1, dir?: string): string {
  const out = dir ?? mkdtempSync(join(tmpdir(), 'fm-tiny-'));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), JSON.stringify({ model_type: 'falcon_mamba', ...shape }));
  writeFileSync(join(out, 'model.safetensors'), encodeSafetensors(randomTensors(shape, seed)));
  return out;
}
