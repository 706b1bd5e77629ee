/** Saved chats are untrusted: wrong metadata types fail at restore, naming the field. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { ChatSession } from '../../src/generate/chat.ts';
import { saveState } from '../../src/state.ts';
import { zeroState, type Model } from '../../src/model.ts';
import { InputError } from '../../src/errors.ts';

const config = parseConfig({ model_type: 'mamba', hidden_size: 8, intermediate_size: 16, state_size: 4, conv_kernel: 4, time_step_rank: 2, num_hidden_layers: 2, vocab_size: 10 });
const model = { config, backend: 'reference', createState: () => zeroState(config) } as unknown as Model;
const good = { kind: 'falcon-mamba-chat', version: 1, messages: [{ role: 'user', content: 'hi' }], text: 'hi', tokens: [1, 2], pending: 3, hasState: true };

describe('ChatSession.restore', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ messages: [1, 2, 3] }, /invalid "messages\[0\]"/],
    [{ pending: 999999 }, /invalid "pending"/],
    [{ tokens: [1, -1] }, /invalid "tokens"/],
    [{ tokens: ['a'] }, /invalid "tokens"/],
    [{ hasState: 'yes' }, /invalid "hasState"/],
  ];
  for (const [patch, re] of cases) {
    it(`${JSON.stringify(patch)} is refused at restore (was: accepted, failing a turn later)`, () => {
      const session = new ChatSession(model, { tokenizer: {} as never });
      const bytes = saveState(config, zeroState(config), { ...good, ...patch });
      expect(() => session.restore(bytes)).toThrow(InputError);
      expect(() => session.restore(bytes)).toThrow(re);
    });
  }
  it('a valid saved chat restores', () => {
    const session = new ChatSession(model, { tokenizer: {} as never });
    session.restore(saveState(config, zeroState(config), good));
    expect(session.messages).toEqual(good.messages);
    expect(session.tokens).toEqual([1, 2]);
  });
});
