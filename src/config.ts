/**
 * config.json → {@link ModelConfig}. The symbols are those of docs/math.md §1, the one table for code and docs:
 *
 * | symbol | field         | HF config key            | 7B value |
 * |--------|---------------|--------------------------|----------|
 * | H      | `dModel`      | `hidden_size`            | 4096     |
 * | E      | `dInner`      | `intermediate_size`      | 8192     |
 * | N      | `dState`      | `state_size`             | 16       |
 * | K      | `dConv`       | `conv_kernel`            | 4        |
 * | R      | `dtRank`      | `time_step_rank`         | 256      |
 * | —      | `nLayer`      | `num_hidden_layers`      | 64       |
 * | V      | `vocabSize`   | `vocab_size`             | 65024    |
 *
 * `D` is only the skip vector (`mixer.D`); the paper's D (model width) is H here, its E·D (inner width) is E.
 * Traps handled here (docs/math.md §2): `intermediate_size` wins over `expand`
 * (falcon-mamba-7b says `expand: 16` with `intermediate_size: 8192`); `time_step_rank: "auto"` is
 * `ceil(hidden_size / 16)`; `mixer_rms_eps` defaults to 1e-6; `tie_word_embeddings` defaults to true.
 */
import { ConfigError } from './errors.ts';

/** The two architectures this project runs. FalconMamba = Mamba-1 + a weightless RMS norm of dt, B and C. */
export type ModelType = 'falcon_mamba' | 'mamba';

/** A normalized model configuration. All sizes are positive integers. */
export interface ModelConfig {
  /** `model_type`: `falcon_mamba` adds the dt/B/C RMS norms to Mamba-1. */
  modelType: ModelType;
  /** H: width of the residual stream (`hidden_size`). */
  dModel: number;
  /** E: width inside the mixer, the number of SSM channels (`intermediate_size`, else `expand * hidden_size`). */
  dInner: number;
  /** N: SSM state size per channel (`state_size`). */
  dState: number;
  /** K: causal conv kernel width (`conv_kernel`). */
  dConv: number;
  /** R: rank of the dt projection (`time_step_rank`). */
  dtRank: number;
  /** Number of Mamba blocks (`num_hidden_layers`). */
  nLayer: number;
  /** V: vocabulary size (`vocab_size`). */
  vocabSize: number;
  /** eps of the block RMSNorms and `norm_f` (`layer_norm_epsilon`). */
  normEps: number;
  /** eps of FalconMamba's weightless dt/B/C RMS norm (`mixer_rms_eps`); unused for `mamba`. */
  mixerRmsEps: number;
  /** Whether FalconMamba's dt/B/C RMS norm is applied (true exactly for `falcon_mamba`). */
  dtBCNorm: boolean;
  /** Bias on in_proj and out_proj (`use_bias`). */
  useBias: boolean;
  /** Bias on conv1d (`use_conv_bias`). */
  useConvBias: boolean;
  /** lm_head shares the embedding matrix (`tie_word_embeddings`). */
  tieWordEmbeddings: boolean;
  /** Token ids from config.json (generation_config.json may override eos for generation). */
  bosTokenId: number | null;
  /** `eos_token_id`, always as a list (HF allows one id or several). */
  eosTokenId: number[];
  /** `pad_token_id`, or null when absent. */
  padTokenId: number | null;
}

type Json = Record<string, unknown>;

function positiveInt(raw: Json, key: string, source: string, fallback?: number): number {
  const v = raw[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${source}: missing required field "${key}"`);
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ConfigError(`${source}: field "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (v > 1 << 24) throw new ConfigError(`${source}: field "${key}" = ${v} is implausibly large`);
  return v;
}

function positiveNumber(raw: Json, key: string, source: string, fallback: number): number {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ConfigError(`${source}: field "${key}" must be a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

function bool(raw: Json, key: string, source: string, fallback: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new ConfigError(`${source}: field "${key}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Reads a token-id field that may be a number, a list of numbers, or absent. */
export function tokenIdList(v: unknown, key: string, source: string): number[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new ConfigError(`${source}: field "${key}" must be a token id or a list of token ids, got ${JSON.stringify(v)}`);
    }
  }
  return list as number[];
}

function optionalTokenId(raw: Json, key: string, source: string): number | null {
  const list = tokenIdList(raw[key], key, source);
  if (list.length > 1) throw new ConfigError(`${source}: field "${key}" must be a single token id`);
  return list.length ? list[0] : null;
}

/**
 * Normalizes a parsed config.json. `source` names the file in error messages.
 * @throws ConfigError for a missing or invalid field, or a `model_type` other than `falcon_mamba` / `mamba`.
 */
export function parseConfig(raw: unknown, source = 'config.json'): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${source}: expected a JSON object`);
  }
  const c = raw as Json;
  const modelType = c.model_type;
  if (modelType !== 'falcon_mamba' && modelType !== 'mamba') {
    throw new ConfigError(
      `${source}: model_type ${JSON.stringify(modelType)} is not supported (expected "falcon_mamba" or "mamba")`,
    );
  }
  const dModel = positiveInt(c, 'hidden_size', source);
  const expand = positiveNumber(c, 'expand', source, 2);
  // intermediate_size wins over expand: HF sets explicit kwargs after computing the default.
  // HF: intermediate_size = int(expand * hidden_size); refuse the 0 (or less) that a tiny expand gives.
  const fromExpand = Math.trunc(expand * dModel);
  if ((c.intermediate_size === undefined || c.intermediate_size === null) && !(fromExpand >= 1 && fromExpand <= 1 << 24)) {
    throw new ConfigError(`${source}: field "expand" = ${expand} gives intermediate size ${fromExpand} (int(expand × hidden_size)); it must be a positive integer ≤ ${1 << 24}`);
  }
  const dInner = positiveInt(c, 'intermediate_size', source, fromExpand);
  let dtRank: number;
  const rawRank = c.time_step_rank;
  if (rawRank === undefined || rawRank === null || rawRank === 'auto') dtRank = Math.ceil(dModel / 16);
  else dtRank = positiveInt(c, 'time_step_rank', source);
  const act = c.hidden_act;
  if (act !== undefined && act !== 'silu' && act !== 'swish') {
    throw new ConfigError(`${source}: hidden_act ${JSON.stringify(act)} is not supported (only "silu")`);
  }
  const isFalcon = modelType === 'falcon_mamba';
  return {
    modelType,
    dModel,
    dInner,
    dState: positiveInt(c, 'state_size', source, 16),
    dConv: positiveInt(c, 'conv_kernel', source, 4),
    dtRank,
    nLayer: positiveInt(c, 'num_hidden_layers', source),
    vocabSize: positiveInt(c, 'vocab_size', source),
    normEps: positiveNumber(c, 'layer_norm_epsilon', source, 1e-5),
    mixerRmsEps: positiveNumber(c, 'mixer_rms_eps', source, 1e-6),
    dtBCNorm: isFalcon,
    useBias: bool(c, 'use_bias', source, false),
    useConvBias: bool(c, 'use_conv_bias', source, true),
    tieWordEmbeddings: bool(c, 'tie_word_embeddings', source, true),
    bosTokenId: optionalTokenId(c, 'bos_token_id', source),
    eosTokenId: tokenIdList(c.eos_token_id, 'eos_token_id', source),
    padTokenId: optionalTokenId(c, 'pad_token_id', source),
  };
}
