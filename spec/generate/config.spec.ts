// generation_config.json → eos ids (a number or a list, falling back to config.json) and HF sampling defaults.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';
import { parseGenerationConfig, samplerDefaults } from '../../src/generate/index.ts';

const model = parseConfig({ model_type: 'falcon_mamba', hidden_size: 8, num_hidden_layers: 1, vocab_size: 64, eos_token_id: 11, bos_token_id: 0 });

describe('generation_config.json', () => {
  it('eos as a list (falcon-mamba-7b-instruct), as a number, or from config.json', () => {
    expect(parseGenerationConfig({ bos_token_id: 8, eos_token_id: [11, 10], pad_token_id: 0 }, model).eosTokenIds).toEqual([11, 10]);
    expect(parseGenerationConfig({ eos_token_id: 3 }, model).eosTokenIds).toEqual([3]);
    const fallback = parseGenerationConfig(undefined, model);
    expect(fallback.eosTokenIds).toEqual([11]);
    expect(fallback.bosTokenId).toBe(0);
    expect(parseGenerationConfig({ bos_token_id: 8 }, model).bosTokenId).toBe(8);
  });

  it('HF defaults: greedy unless do_sample; then temperature 1, top_k 50', () => {
    expect(samplerDefaults(parseGenerationConfig({}, model))).toEqual({ temperature: 0 });
    expect(samplerDefaults(parseGenerationConfig({ do_sample: true, top_p: 0.9, repetition_penalty: 1.2 }, model))).toEqual({
      temperature: 1, topK: 50, topP: 0.9, repetitionPenalty: 1.2,
    });
  });

  it('bad fields are ConfigErrors naming the field', () => {
    expect(() => parseGenerationConfig({ eos_token_id: 'x' }, model, 'g.json')).toThrow(ConfigError);
    expect(() => parseGenerationConfig({ eos_token_id: 'x' }, model, 'g.json')).toThrow(/g.json: field "eos_token_id"/);
    expect(() => parseGenerationConfig({ temperature: 'hot' }, model)).toThrow(/temperature/);
  });
});
