/**
 * generation_config.json → the defaults of a generation: which ids end it (eos, a number or a list, e.g.
 * `[11, 10]` for falcon-mamba-7b-instruct), and HF's sampling defaults (`do_sample`, `temperature`, `top_k`,
 * `top_p`, `min_p`, `repetition_penalty`, `max_new_tokens`). A missing file or field falls back to config.json,
 * as transformers' `GenerationConfig.from_model_config` does.
 */
import { join } from 'node:path';
import { tokenIdList, type ModelConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { readJsonFile } from '../io/checkpoint.ts';
import type { SamplerOptions } from './sampler.ts';

/** The parts of generation_config.json that generation uses. */
export interface GenerationConfig {
  /** Ids that end a generation (generation_config.json `eos_token_id`, else config.json's). */
  eosTokenIds: number[];
  /** `bos_token_id` (else config.json's). */
  bosTokenId: number | null;
  /** `pad_token_id` (else config.json's). */
  padTokenId: number | null;
  /** HF `do_sample` (default false: greedy). */
  doSample: boolean;
  /** HF `temperature`. */
  temperature?: number;
  /** HF `top_k`. */
  topK?: number;
  /** HF `top_p`. */
  topP?: number;
  /** HF `min_p`. */
  minP?: number;
  /** HF `repetition_penalty`. */
  repetitionPenalty?: number;
  /** HF `max_new_tokens`, when set. */
  maxNewTokens?: number;
}

function num(raw: Record<string, unknown>, key: string, source: string): number | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${source}: field "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Normalizes a parsed generation_config.json (or `undefined` when the folder has none).
 * @param model the model's config, whose token ids are the fallback
 * @throws ConfigError for a field of the wrong type
 */
export function parseGenerationConfig(raw: unknown, model: ModelConfig, source = 'generation_config.json'): GenerationConfig {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) throw new ConfigError(`${source}: expected a JSON object`);
  const r = (raw ?? {}) as Record<string, unknown>;
  const single = (key: string, fallback: number | null): number | null => {
    if (r[key] === undefined || r[key] === null) return fallback;
    const list = tokenIdList(r[key], key, source);
    return list.length ? list[0] : fallback;
  };
  const doSample = r.do_sample;
  if (doSample !== undefined && doSample !== null && typeof doSample !== 'boolean') throw new ConfigError(`${source}: field "do_sample" must be true or false`);
  const eos = r.eos_token_id === undefined || r.eos_token_id === null ? model.eosTokenId : tokenIdList(r.eos_token_id, 'eos_token_id', source);
  const topK = num(r, 'top_k', source);
  // Ranges as transformers' GenerationConfig.validate and its logits processors check them, naming the field.
  const check = (key: string, v: number | undefined, ok: (v: number) => boolean, want: string): void => {
    if (v !== undefined && !ok(v)) throw new ConfigError(`${source}: field "${key}" must be ${want}, got ${v}`);
  };
  const temperature = num(r, 'temperature', source);
  const topP = num(r, 'top_p', source);
  const minP = num(r, 'min_p', source);
  const repetitionPenalty = num(r, 'repetition_penalty', source);
  const maxNewTokens = num(r, 'max_new_tokens', source);
  check('temperature', temperature, (v) => v >= 0, 'a number ≥ 0');
  check('top_k', topK, (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
  check('top_p', topP, (v) => v > 0 && v <= 1, 'in (0, 1]');
  check('min_p', minP, (v) => v >= 0 && v <= 1, 'in [0, 1]');
  check('repetition_penalty', repetitionPenalty, (v) => v > 0, 'a number > 0');
  check('max_new_tokens', maxNewTokens, (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
  return {
    eosTokenIds: [...eos],
    bosTokenId: single('bos_token_id', model.bosTokenId),
    padTokenId: single('pad_token_id', model.padTokenId),
    doSample: doSample === true,
    temperature,
    topK,
    topP,
    minP,
    repetitionPenalty,
    maxNewTokens,
  };
}

/**
 * Reads `<dir>/generation_config.json` (optional).
 * @throws ConfigError when the file exists but is not valid
 */
export async function loadGenerationConfig(dir: string, model: ModelConfig): Promise<GenerationConfig> {
  const path = join(dir, 'generation_config.json');
  return parseGenerationConfig(await readJsonFile(path, true), model, path);
}

/**
 * HF's sampler defaults from a generation config: greedy unless `do_sample` is true; then its temperature
 * (default 1), `top_k` (HF default 50), `top_p`, `min_p`. The repetition penalty applies in both modes.
 */
export function samplerDefaults(g: GenerationConfig): SamplerOptions {
  const out: SamplerOptions = {};
  if (g.repetitionPenalty !== undefined) out.repetitionPenalty = g.repetitionPenalty;
  if (!g.doSample) {
    out.temperature = 0;
    return out;
  }
  out.temperature = g.temperature ?? 1;
  out.topK = g.topK ?? 50;
  if (g.topP !== undefined) out.topP = g.topP;
  if (g.minP !== undefined) out.minP = g.minP;
  return out;
}
