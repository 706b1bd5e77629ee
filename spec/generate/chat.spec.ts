// ChatSession: turns fed incrementally (only the new tokens, on the kept state) give the same tokens as
// re-prefilling the whole rendered history from scratch; the fallback when the rendering does not extend the
// state; save/restore of a conversation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/index.ts';
import { ChatSession, generateIds } from '../../src/generate/index.ts';
import { loadTokenizerFiles, type TokenizerFiles } from '../../src/tokenizer/index.ts';
import { HAVE_SHARED, makeTokenizedModel, removeDirs } from './helpers.ts';

const QUESTIONS = ['The old man', 'the man', 'a man man'];
// With this system prompt the random tiny model's replies hold no special token (a reply with one — skipped
// in the text, so missing from the re-rendered history — correctly forces a re-prefill; see the stop test).
const OPTS = { system: 'Be brief', maxTokens: 5, eosTokenIds: [11] };

async function greedy(model: Model, ids: number[]): Promise<number[]> {
  const out: number[] = [];
  for await (const e of generateIds(model, ids, { maxTokens: OPTS.maxTokens, eosTokenIds: OPTS.eosTokenIds })) out.push(e.token);
  return out;
}

async function turn(s: ChatSession, q: string) {
  const full = s.render([...s.messages, { role: 'user', content: q }], true);
  const gen = s.send(q);
  let text = '';
  for await (const e of gen) text += e.text;
  const generated = gen.summary!.tokens;
  const promptIds = s.tokens.slice(0, s.tokens.length - generated.length);
  return { full, text, generated, promptIds, info: s.lastTurn! };
}

describe.runIf(HAVE_SHARED)('ChatSession', () => {
  const dirs: string[] = [];
  let model: Model;
  let files: TokenizerFiles;
  beforeAll(async () => {
    const dir = makeTokenizedModel();
    dirs.push(dir);
    model = await loadModel(dir, { backend: 'reference' });
    files = await loadTokenizerFiles(dir);
  });
  afterAll(() => removeDirs(dirs));

  it('turns without re-prefill = re-prefilling the whole history', async () => {
    const s = new ChatSession(model, files, OPTS);
    for (const [k, q] of QUESTIONS.entries()) {
      const t = await turn(s, q);
      expect(t.info.mode).toBe(k === 0 ? 'cached' : 'incremental');
      expect(t.info.reprefilled).toBe(false);
      const all = files.tokenizer.encode(t.full);
      // The state stands for exactly the tokens of the rendered history (so re-prefilling it is the baseline)…
      expect(t.promptIds).toEqual(all);
      // …of which only the new turn's tokens were fed.
      if (k > 0) expect(t.info.fedTokens).toBeLessThan(all.length / 2);
      expect(t.info.fedTokens + t.info.reusedTokens).toBe(all.length);
      expect(t.generated).toEqual(await greedy(model, all));
      expect(t.text).toBe(files.tokenizer.decode(t.generated, { skipSpecialTokens: true }));
    }
    expect(s.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
  });

  it('a reply cut by a stop string cannot be extended: the next turn re-prefills and says so', async () => {
    const s = new ChatSession(model, files, OPTS);
    const first = await turn(s, QUESTIONS[0]);
    s.reset();
    const stop = first.text.slice(2, 5); // inside the reply
    const cut = await (async () => {
      const gen = s.send(QUESTIONS[0], { stop: [stop] });
      for await (const _ of gen);
      return gen.summary!;
    })();
    expect(cut.finishReason).toBe('stop');
    const t = await turn(s, QUESTIONS[1]);
    expect(t.info.reprefilled).toBe(true);
    expect(t.info.mode).toBe('cached'); // restarted from the cached system prompt
    expect(t.info.reason).toMatch(/does not extend/);
    expect(t.promptIds).toEqual(files.tokenizer.encode(t.full));
    expect(t.generated).toEqual(await greedy(model, files.tokenizer.encode(t.full)));
  });

  it('an aborted reply keeps the state whole: the next turn is incremental and equals a full re-prefill', async () => {
    const s = new ChatSession(model, files, OPTS);
    const ctl = new AbortController();
    const gen = s.send(QUESTIONS[0], { signal: ctl.signal });
    let n = 0;
    for await (const _ of gen) if (++n === 2) ctl.abort();
    expect(gen.summary!.finishReason).toBe('abort');
    expect(gen.summary!.tokens.length).toBe(2);
    const t = await turn(s, QUESTIONS[1]);
    expect(t.info.mode).toBe('incremental');
    expect(t.promptIds).toEqual(files.tokenizer.encode(t.full));
    expect(t.generated).toEqual(await greedy(model, files.tokenizer.encode(t.full)));
  });

  it('save → restore in a new session continues exactly', async () => {
    const a = new ChatSession(model, files, OPTS);
    await turn(a, QUESTIONS[0]);
    await turn(a, QUESTIONS[1]);
    const bytes = a.save();
    const b = new ChatSession(model, files, OPTS);
    b.restore(bytes);
    expect(b.messages).toEqual(a.messages);
    const ta = await turn(a, QUESTIONS[2]);
    const tb = await turn(b, QUESTIONS[2]);
    expect(tb.info.mode).toBe('incremental');
    expect(tb.generated).toEqual(ta.generated);
    expect(() => b.restore(model.saveState(model.createState()))).toThrow(/not a chat session/);
  });
});
