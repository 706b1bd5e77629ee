import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/index.ts';

// The real falcon-mamba-7b config.json (docs/math.md §1–3).
const FALCON_7B = {
  architectures: ['FalconMambaForCausalLM'], model_type: 'falcon_mamba', hidden_size: 4096, num_hidden_layers: 64,
  state_size: 16, expand: 16, intermediate_size: 8192, conv_kernel: 4, time_step_rank: 256, layer_norm_epsilon: 1e-5,
  residual_in_fp32: true, tie_word_embeddings: false, use_bias: false, use_conv_bias: true, hidden_act: 'silu',
  vocab_size: 65024, bos_token_id: 0, eos_token_id: 11, pad_token_id: 0, torch_dtype: 'bfloat16',
};

describe('parseConfig', () => {
  it('maps the 7B config to glossary names; intermediate_size wins over expand; mixer_rms_eps defaults to 1e-6', () => {
    const c = parseConfig(FALCON_7B);
    expect(c).toMatchObject({
      modelType: 'falcon_mamba', dModel: 4096, dInner: 8192, dState: 16, dConv: 4, dtRank: 256, nLayer: 64,
      vocabSize: 65024, normEps: 1e-5, mixerRmsEps: 1e-6, dtBCNorm: true, tieWordEmbeddings: false, eosTokenId: [11],
    });
  });

  it('derives dInner from expand when intermediate_size is absent, and time_step_rank "auto" = ceil(H/16)', () => {
    const { intermediate_size: _i, ...rest } = FALCON_7B;
    const c = parseConfig({ ...rest, hidden_size: 100, expand: 2, time_step_rank: 'auto' });
    expect(c.dInner).toBe(200);
    expect(c.dtRank).toBe(7);
  });

  it('defaults: tie_word_embeddings true, mamba has no dt/B/C norm', () => {
    const c = parseConfig({ model_type: 'mamba', hidden_size: 8, num_hidden_layers: 1, vocab_size: 10 });
    expect(c.tieWordEmbeddings).toBe(true);
    expect(c.dtBCNorm).toBe(false);
    expect(c.dInner).toBe(16);
    expect(c.dState).toBe(16);
    expect(c.dConv).toBe(4);
    expect(c.dtRank).toBe(1);
  });

  it('rejects bad input with the field named', () => {
    expect(() => parseConfig({ ...FALCON_7B, model_type: 'falcon' })).toThrow(ConfigError);
    expect(() => parseConfig({ ...FALCON_7B, model_type: undefined })).toThrow(/model_type undefined is not supported/);
    expect(() => parseConfig(null)).toThrow(/expected a JSON object/);
    expect(() => parseConfig({ ...FALCON_7B, state_size: 0 })).toThrow(/"state_size" must be a positive integer/);
    expect(() => parseConfig({ ...FALCON_7B, layer_norm_epsilon: -1 })).toThrow(/"layer_norm_epsilon"/);
    expect(() => parseConfig({ ...FALCON_7B, hidden_act: 'gelu' })).toThrow(/hidden_act "gelu"/);
    expect(() => parseConfig({ ...FALCON_7B, eos_token_id: 'x' })).toThrow(/eos_token_id/);
    expect(() => parseConfig({ ...FALCON_7B, vocab_size: 1e12 })).toThrow(/implausibly large/);
    expect(() => parseConfig({ ...FALCON_7B, use_bias: 'no' })).toThrow(/"use_bias" must be true or false/);
  });
});
