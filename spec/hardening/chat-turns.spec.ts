/**
 * ChatSession turns are one at a time: a second `send` before the first has ended was accepted, both
 * rendered the same history, and the later to end dropped the other's messages. Now it is an InputError, as are
 * `reset` and `restore` while a turn is pending; a turn that ends (to the end, by `break`, by abort) frees the
 * session. Runs on a tiny random model with a 40-character vocabulary (no shared files needed).
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, loadModel, type Model } from '../../src/index.ts';
import { ChatSession } from '../../src/generate/chat.ts';
import { Tokenizer } from '../../src/tokenizer/index.ts';
import { writeTinyModel } from '../helpers/tiny-model.ts';
import { CHAR_CHAT_TEMPLATE, CHARS_40, charTokenizerJson } from '../helpers/tiny-tokenizer.ts';

const SHAPE = { model_type: 'falcon_mamba' as const, hidden_size: 16, intermediate_size: 32, state_size: 4, conv_kernel: 4, time_step_rank: 2, num_hidden_layers: 2, vocab_size: CHARS_40.length };
const dir = writeTinyModel(SHAPE, 9);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const chat = { tokenizer: Tokenizer.fromJSON(charTokenizerJson()), chatTemplate: CHAR_CHAT_TEMPLATE };
const OPTS = { maxTokens: 4, seed: 3 };

async function reply(gen: AsyncIterable<{ text: string }>): Promise<string> {
  let text = '';
  for await (const e of gen) text += e.text;
  return text;
}

describe('ChatSession: one turn at a time', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(dir, { backend: 'reference' });
  });
  afterAll(() => model.dispose());

  it('a second send before the first was iterated is an InputError; no turn is lost', async () => {
    const s = new ChatSession(model, chat, OPTS);
    const first = s.send('hi');
    expect(() => s.send('again')).toThrow(InputError);
    expect(() => s.send('again')).toThrow(/previous send\(\) has not ended/);
    expect(() => s.reset()).toThrow(/^reset: the previous send\(\) has not ended/);
    expect(() => s.restore(s.save())).toThrow(/^restore: the previous send\(\) has not ended/);
    const a = await reply(first);
    const second = s.send('again');
    const b = await reply(second);
    expect(s.messages).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: a },
      { role: 'user', content: 'again' },
      { role: 'assistant', content: b },
    ]);
  });

  it('two turns iterated at once cannot happen: the second send throws while the first runs', async () => {
    const s = new ChatSession(model, chat, OPTS);
    const first = s.send('hi');
    const it = first[Symbol.asyncIterator]();
    await it.next(); // running, paused after its first token
    expect(() => s.send('x')).toThrow(InputError);
    while (!(await it.next()).done);
    expect(s.messages.map((m) => m.content)).toEqual(['hi', expect.any(String)]);
    await reply(s.send('next'));
    expect(s.messages).toHaveLength(4);
  });

  it('a turn broken out of, aborted or failed frees the session', async () => {
    const s = new ChatSession(model, chat, OPTS);
    for await (const _ of s.send('hi')) break;
    await reply(s.send('abort me', { signal: AbortSignal.abort() }));
    // A bad option fails the turn inside its generation.
    await expect(reply(s.send('x', { maxTokens: -1 }))).rejects.toThrow(InputError);
    expect(() => s.reset()).not.toThrow();
    await reply(s.send('hi'));
    expect(s.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it('content that is not a string is an InputError at send', () => {
    const s = new ChatSession(model, chat, OPTS);
    expect(() => s.send(null as unknown as string)).toThrow(/^send: content must be a string, got null/);
    expect(() => s.send(3 as unknown as string)).toThrow(/got number/);
  });
});
