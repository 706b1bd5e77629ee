/** Saved states are untrusted: a damaged payload is an InputError, not a silent NaN model. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { decodeState, saveState } from '../../src/state.ts';
import { zeroState } from '../../src/model.ts';
import { InputError } from '../../src/errors.ts';

const config = parseConfig({ model_type: 'mamba', hidden_size: 8, intermediate_size: 16, state_size: 4, conv_kernel: 4, time_step_rank: 2, num_hidden_layers: 2, vocab_size: 10 });

describe('state payload', () => {
  for (const [what, value] of [['NaN', NaN], ['+Infinity', Infinity], ['-Infinity', -Infinity]] as const) {
    it(`a state holding ${what} is refused (was: loaded silently)`, () => {
      const s = zeroState(config);
      s.ssm.fill(value);
      const bytes = saveState(config, s);
      expect(() => decodeState(config, bytes)).toThrow(InputError);
      expect(() => decodeState(config, bytes)).toThrow(/ssm state holds a non-finite value/);
      const c = zeroState(config);
      c.conv[5] = value;
      expect(() => decodeState(config, saveState(config, c))).toThrow(/conv state holds a non-finite value .* at index 5/);
    });
  }
  it('a finite state round-trips', () => {
    const s = zeroState(config);
    s.ssm.fill(0.25);
    s.position = 7;
    const back = decodeState(config, saveState(config, s)).state;
    expect(Array.from(back.ssm)).toEqual(Array.from(s.ssm));
    expect(back.position).toBe(7);
  });
});
