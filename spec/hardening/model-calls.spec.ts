/**
 * Model calls with bad arguments: both backends check them in the shared contracts of src/model.ts
 * (`checkState`, `checkIds`, `checkId`, `checkBatch`, the `CallQueue` a dispose closes, `resolveLoadOptions`) and reject with an
 * InputError naming the parameter — never a TypeError from deep inside a kernel, never a result after dispose.
 * Also the abort case of generation: an AbortSignal fired during generation ends it at once (finishReason
 * `abort`, no more model calls), a model call aborted rejects with an AbortError, and the model stays usable.
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { generateIds, InputError, loadModel, type Model, type ModelState } from '../../src/index.ts';
import { MAX_THREADS, resolveLoadOptions } from '../../src/model.ts';
import { writeTinyModel } from '../helpers/tiny-model.ts';

const SHAPE = { model_type: 'falcon_mamba' as const, hidden_size: 16, intermediate_size: 32, state_size: 4, conv_kernel: 4, time_step_rank: 2, num_hidden_layers: 2, vocab_size: 40 };
const dir = writeTinyModel(SHAPE, 5);
const other = writeTinyModel({ ...SHAPE, intermediate_size: 48 }, 6);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(other, { recursive: true, force: true });
});

/** Resolves to the rejection of `p` (fails the spec when `p` resolves). */
async function rejection(p: () => Promise<unknown> | unknown): Promise<Error> {
  try {
    await p();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

async function expectInputError(p: () => Promise<unknown> | unknown, re: RegExp): Promise<void> {
  const e = await rejection(p);
  expect(e, `${e?.name}: ${e?.message}`).toBeInstanceOf(InputError);
  expect(e.message).toMatch(re);
}

const BACKENDS: [string, () => Promise<Model>][] = [
  ['reference', () => loadModel(dir, { backend: 'reference' })],
  ['wasm, 1 thread', () => loadModel(dir, { backend: 'wasm', threads: 1 })],
];

for (const [label, load] of BACKENDS) {
  describe(`bad model-call arguments: ${label}`, () => {
    it('every call after dispose() rejects with an InputError (was: the reference backend kept working)', async () => {
      const model = await load();
      const state = model.createState();
      await model.step(state, 1);
      await model.dispose();
      await expectInputError(() => model.step(state, 2), /disposed/);
      await expectInputError(() => model.prefill(state, [2, 3]), /disposed/);
      await expectInputError(() => model.forward([2, 3]), /disposed/);
      await expectInputError(() => model.trace!([2, 3], () => {}), /disposed/);
      await expectInputError(() => model.stepBatch([state], [2]), /disposed/);
    });

    it('a call queued before dispose() but not yet started rejects too', async () => {
      const model = await load();
      const first = model.prefill(model.createState(), [1, 2, 3]);
      const queued = model.step(model.createState(), 4);
      await model.dispose();
      await first.catch(() => {});
      await expectInputError(() => queued, /disposed/);
    });

    it('bad states, ids and ids arrays are InputErrors naming the parameter (was: TypeError)', async () => {
      const model = await load();
      const good = model.createState();
      const plain = { conv: Array.from(good.conv), ssm: Array.from(good.ssm), position: 0 } as unknown as ModelState;
      await expectInputError(() => model.step(plain, 1), /^state\.conv must be a Float32Array .* got an Array/);
      await expectInputError(() => model.prefill(plain, [1]), /^state\.conv must be a Float32Array/);
      await expectInputError(() => model.step(null as unknown as ModelState, 1), /^state must be a model state .* got null/);
      await expectInputError(() => model.step({ ...good, ssm: new Float64Array(good.ssm.length) } as unknown as ModelState, 1), /^state\.ssm must be a Float32Array .* got a Float64Array/);
      await expectInputError(() => model.step({ ...good, position: -1 }, 1), /^state\.position must be an integer ≥ 0/);
      await expectInputError(() => model.step({ ...good, position: NaN }, 1), /^state\.position must be an integer ≥ 0/);
      const foreign = await loadModel(other, { backend: 'reference' });
      await expectInputError(() => model.step(foreign.createState(), 1), /^state does not fit this model .* another shape/);
      await foreign.dispose();
      await expectInputError(() => model.forward(null as unknown as number[]), /^ids must be an array of token ids, got null/);
      await expectInputError(() => model.forward(undefined as unknown as number[]), /^ids must be an array of token ids, got undefined/);
      await expectInputError(() => model.forward('abc' as unknown as number[]), /^ids must be an array of token ids, got the string "abc"/);
      await expectInputError(() => model.forward(7 as unknown as number[]), /^ids must be an array of token ids, got number 7/);
      await expectInputError(() => model.prefill(good, ['1'] as unknown as number[]), /^ids: token id the string "1" at position 0/);
      await expectInputError(() => model.prefill(good, [1, 2.5]), /^ids: token id 2.5 at position 1 is outside the vocabulary \[0, 40\)/);
      await expectInputError(() => model.prefill(good, []), /no token ids given \(ids is empty\)/);
      await expectInputError(() => model.step(good, '3' as unknown as number), /^id must be a token id, an integer in \[0, 40\), got the string "3"/);
      await expectInputError(() => model.step(good, [3] as unknown as number), /^id must be a token id.* got an Array/);
      await expectInputError(() => model.step(good, 40), /^id must be a token id.* got 40/);
      await expectInputError(() => model.stepBatch([good, plain], [1, 2]), /^states\[1\]\.conv must be a Float32Array .* got an Array/);
      await expectInputError(() => model.stepBatch([good], null as unknown as number[]), /1 states but undefined token ids/);
      await expectInputError(() => model.prefill(good, null as unknown as number[], { allLogits: true }), /^ids must be an array of token ids, got null/);
      // None of it touched the state, and the model still works.
      expect(good.position).toBe(0);
      expect((await model.step(good, 3)).length).toBe(SHAPE.vocab_size);
      await model.dispose();
    });

    it('an abort during generation ends it at once (AbortError from the call, finishReason abort), and the model stays usable', async () => {
      const model = await load();
      const want = await generateIds(model, [1, 2, 3], { maxTokens: 12, seed: 1 }).done();
      // Abort from inside the iteration after 3 tokens: the generation makes no further model call.
      const ac = new AbortController();
      const gen = generateIds(model, [1, 2, 3], { maxTokens: 100_000, signal: ac.signal, seed: 1 });
      let seen = 0;
      for await (const _ of gen) {
        if (++seen === 3) ac.abort();
      }
      expect(gen.summary!.finishReason).toBe('abort');
      expect(gen.summary!.tokens).toEqual(want.tokens.slice(0, 3));
      expect(gen.summary!.steps, 'decode steps: none after the abort').toBe(2);
      // A model call with a fired signal rejects with an AbortError carrying the reason.
      const state = model.createState();
      const reason = new Error('Ctrl-C');
      const e = await rejection(() => model.prefill(state, [1, 2, 3], { signal: AbortSignal.abort(reason) }));
      expect(e.name).toBe('AbortError');
      expect(e.cause).toBe(reason);
      expect(state.position, 'an aborted call leaves the state as it was').toBe(0);
      // Afterwards the model is fine: the same greedy continuation as before.
      expect((await generateIds(model, [1, 2, 3], { maxTokens: 12, seed: 1 }).done()).tokens).toEqual(want.tokens);
      await model.dispose();
    });
  });
}

describe('threads bound', () => {
  it(`threads over MAX_THREADS (${MAX_THREADS}) is an InputError naming the option (was: workers until 4 GB)`, async () => {
    // The reference first: with the bound missing it loads (and the spec fails) instead of starting workers.
    for (const threads of [100_000, MAX_THREADS + 1]) {
      await expectInputError(() => loadModel(dir, { backend: 'reference', threads }), /^threads must be/);
      await expectInputError(() => loadModel(dir, { backend: 'wasm', threads }), new RegExp(`^threads must be an integer from 1 to ${MAX_THREADS} \\(MAX_THREADS\\), got ${threads}`));
    }
    for (const threads of [0, -1, 1.5, NaN]) expect(() => resolveLoadOptions({ threads }, 2)).toThrow(/^threads must be an integer from 1 to 64/);
    expect(resolveLoadOptions({ threads: MAX_THREADS }, 2).threads).toBe(MAX_THREADS);
    // The default follows the cores, within the bound.
    expect(resolveLoadOptions({}, 8).threads).toBe(8);
    expect(resolveLoadOptions({}, 512).threads).toBe(MAX_THREADS);
  });
});
