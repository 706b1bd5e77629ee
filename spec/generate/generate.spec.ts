// generateIds / generate on real models: greedy equals the transformers goldens (greedy16 by full
// recomputation), seeds, stop strings across token boundaries, eos, abort, continuing a state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/index.ts';
import { generate, generateIds, generateTextFromIds, type GenerationSummary } from '../../src/generate/index.ts';
import { loadTokenizerFiles, type Tokenizer } from '../../src/tokenizer/index.ts';
import { loadGoldenCases } from '../helpers/goldens.ts';
import { HAVE_SHARED, makeTokenizedModel, removeDirs } from './helpers.ts';

async function collect(gen: AsyncIterable<{ token: number; text?: string }>): Promise<{ tokens: number[]; text: string }> {
  const tokens: number[] = [];
  let text = '';
  for await (const e of gen) {
    tokens.push(e.token);
    text += e.text ?? '';
  }
  return { tokens, text };
}

describe('greedy generateIds = transformers greedy16 (every golden case)', () => {
  for (const c of loadGoldenCases()) {
    it(c.name, async () => {
      const model = await loadModel(c.modelDir, { backend: 'reference' });
      for (const [i, s] of c.seqs.entries()) {
        // eos disabled: greedy16 is 16 argmaxes whatever they are.
        const { tokens } = await collect(generateIds(model, s.ids, { maxTokens: 16, temperature: 0, eosTokenIds: [] }));
        expect(tokens, `${c.name} seq ${i}`).toEqual(s.greedy16);
      }
    });
  }
});

describe.runIf(HAVE_SHARED)('generate with a tokenizer (shared tiny model + Falcon tokenizer)', () => {
  const dirs: string[] = [];
  let model: Model;
  let tok: Tokenizer;
  const prompt = 'The old man';
  beforeAll(async () => {
    const dir = makeTokenizedModel();
    dirs.push(dir);
    model = await loadModel(dir, { backend: 'reference' });
    tok = (await loadTokenizerFiles(dir)).tokenizer;
  });
  afterAll(() => removeDirs(dirs));

  it('text events concatenate to the decode of the tokens', async () => {
    const { tokens, text } = await collect(generate(model, tok, prompt, { maxTokens: 12 }));
    expect(tokens.length).toBe(12);
    expect(text).toBe(tok.decode(tokens, { skipSpecialTokens: true }));
  });

  it('same seed → same tokens; another seed → other tokens', async () => {
    const opts = { maxTokens: 10, temperature: 1.0, topK: 0, topP: 1 };
    const a = await collect(generate(model, tok, prompt, { ...opts, seed: 42 }));
    const b = await collect(generate(model, tok, prompt, { ...opts, seed: 42 }));
    const c = await collect(generate(model, tok, prompt, { ...opts, seed: 43 }));
    expect(b.tokens).toEqual(a.tokens);
    expect(b.text).toBe(a.text);
    expect(c.text).not.toBe(a.text);
    // top-k 1 is greedy whatever the seed.
    const greedy = await collect(generateIds(model, tok.encode(prompt), { maxTokens: 10 }));
    const k1 = await collect(generate(model, tok, prompt, { ...opts, topK: 1, seed: 7 }));
    expect(k1.tokens).toEqual(greedy.tokens);
  });

  it('a stop string spanning a token boundary ends the text exactly before it', async () => {
    const ids = tok.encode(prompt);
    const full = await collect(generateTextFromIds(model, tok, ids, { maxTokens: 16 }));
    // A stop string made of the end of token 3 and the start of token 4.
    const pieces = full.tokens.map((t) => tok.decode([t]));
    const k = pieces.findIndex((p, i) => i >= 2 && p.length >= 2 && (pieces[i + 1] ?? '').length >= 2 && !pieces.slice(0, i).join('').includes(p.slice(-2)));
    expect(k).toBeGreaterThan(0);
    const stop = pieces[k].slice(-2) + pieces[k + 1].slice(0, 2);
    const at = full.text.indexOf(stop);
    expect(at).toBeGreaterThan(0);
    const events: string[] = [];
    const gen = generateTextFromIds(model, tok, ids, { maxTokens: 16, stop: ['zzzz-never', stop] });
    for await (const e of gen) events.push(e.text);
    expect(events.join('')).toBe(full.text.slice(0, at));
    const s = gen.summary!;
    expect(s.finishReason).toBe('stop');
    expect(s.stopString).toBe(stop);
    expect(s.tokens).toEqual(full.tokens.slice(0, k + 2)); // ended at the token that completed the stop string
  });

  it('eos ends generation at the eos token (yielded, no text)', async () => {
    const ids = tok.encode(prompt);
    const full = await collect(generateIds(model, ids, { maxTokens: 16 }));
    const eos = full.tokens[5];
    const first = full.tokens.indexOf(eos);
    const gen = generateTextFromIds(model, tok, ids, { maxTokens: 16, eosTokenIds: [eos, 999999] });
    const got = await collect(gen);
    expect(got.tokens).toEqual(full.tokens.slice(0, first + 1));
    expect(got.text).toBe(tok.decode(full.tokens.slice(0, first), { skipSpecialTokens: true }));
    expect(gen.summary!.finishReason).toBe('eos');
    expect(gen.summary!.pendingToken).toBe(eos);
  });

  it('abort stops within one token', async () => {
    const ids = tok.encode(prompt);
    let steps = 0;
    const counting: Model = Object.create(model, { step: { value: (s: never, id: number) => (steps++, model.step(s, id)) } });
    const ctl = new AbortController();
    const gen = generateIds(counting, ids, { maxTokens: 50, signal: ctl.signal });
    let n = 0;
    for await (const _ of gen) if (++n === 3) ctl.abort();
    expect(n).toBe(3);
    expect(steps).toBe(2); // no model call after the abort
    expect(gen.summary!.finishReason).toBe('abort');
    // Already aborted: nothing runs at all.
    const none = generateIds(counting, ids, { signal: AbortSignal.abort() });
    expect((await collect(none)).tokens).toEqual([]);
  });

  it('continuing a state (chunked prefill, pending token) = one generation', async () => {
    const ids = tok.encode('Once upon a time, in a land far away');
    const whole = await collect(generateIds(model, ids, { maxTokens: 12, prefillChunkSize: 3 }));
    const first = generateIds(model, ids.slice(0, 4), { maxTokens: 0 });
    const s1: GenerationSummary = await first.done();
    expect(s1.state.position).toBe(4);
    const rest = await collect(generateIds(model, ids.slice(4), { maxTokens: 12, state: s1.state }));
    expect(rest.tokens).toEqual(whole.tokens);
  });

  it('bad options are InputErrors naming the option', async () => {
    await expect(collect(generateIds(model, [1], { temperature: -1 }))).rejects.toThrow(/temperature/);
    await expect(collect(generateIds(model, [1], { topP: 0 }))).rejects.toThrow(/topP/);
    await expect(collect(generateIds(model, [], {}))).rejects.toThrow(/no tokens/);
    await expect(collect(generateIds(model, [70000], {}))).rejects.toThrow(/outside the vocabulary/);
  });
});
