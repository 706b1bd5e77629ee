// On the trained demo model (models/demo, when present): a real ChatML template with special tokens. Chat turns
// fed incrementally equal greedy generation from a full re-prefill of the rendered history.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/index.ts';
import { ChatSession, generateIds } from '../../src/generate/index.ts';
import { loadTokenizerFiles } from '../../src/tokenizer/index.ts';
import { REPO } from '../helpers/goldens.ts';

const DEMO = join(REPO, 'models', 'demo');

describe.runIf(existsSync(join(DEMO, 'tokenizer.json')))('demo model chat (ChatML template)', () => {
  it('incremental turns = full re-prefill, turn by turn', async () => {
    const model = await loadModel(DEMO, { backend: 'reference' });
    const files = await loadTokenizerFiles(DEMO);
    const imEnd = files.tokenizer.tokenToId('<|im_end|>');
    expect(imEnd).toBeDefined();
    const eosTokenIds = [...new Set([files.eosTokenId ?? 0, imEnd!])];
    const s = new ChatSession(model, files, { system: 'You are a storyteller.', maxTokens: 12, eosTokenIds });
    for (const [k, q] of ['Tell me about the old man.', 'What did he do next?', 'And then?'].entries()) {
      const full = s.render([...s.messages, { role: 'user', content: q }], true);
      const gen = s.send(q);
      for await (const _ of gen);
      const generated = gen.summary!.tokens;
      const all = files.tokenizer.encode(full);
      expect(s.lastTurn!.mode).toBe(k === 0 ? 'cached' : 'incremental');
      expect(s.tokens.slice(0, s.tokens.length - generated.length)).toEqual(all);
      const baseline: number[] = [];
      for await (const e of generateIds(model, all, { maxTokens: 12, eosTokenIds })) baseline.push(e.token);
      expect(generated).toEqual(baseline);
    }
  });
});
