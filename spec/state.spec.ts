// State as a value: saveState/loadState round trip, continuing from restored bytes gives exactly the tokens
// of continuing without the save, and bad bytes (truncated, another model, another version) are clear
// InputErrors.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, loadModel, type Model } from '../src/index.ts';
import { cloneState, decodeState, generateIds, loadState, saveState, STATE_FORMAT_VERSION, stateBytes } from '../src/generate/index.ts';
import { writeTinyModel, type TinyShape } from './helpers/tiny-model.ts';

const A: TinyShape = { model_type: 'falcon_mamba', hidden_size: 12, intermediate_size: 24, state_size: 5, conv_kernel: 4, time_step_rank: 3, num_hidden_layers: 2, vocab_size: 50 };
const B: TinyShape = { ...A, intermediate_size: 20 };
const C: TinyShape = { ...A, vocab_size: 51 }; // same state shape, other model

async function tokens(model: Model, ids: number[], o: Parameters<typeof generateIds>[2]): Promise<number[]> {
  const out: number[] = [];
  for await (const e of generateIds(model, ids, o)) out.push(e.token);
  return out;
}

describe('saveState / loadState', () => {
  const dirs: string[] = [];
  let a: Model, b: Model, c: Model;
  beforeAll(async () => {
    for (const s of [A, B, C]) dirs.push(writeTinyModel(s, 3));
    [a, b, c] = await Promise.all(dirs.map((d) => loadModel(d, { backend: 'reference' })));
  });
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('round-trips exactly, with metadata, through the model methods too', async () => {
    const st = a.createState();
    await a.prefill(st, [1, 2, 3, 4, 5]);
    const bytes = a.saveState(st);
    expect(bytes.length).toBe(stateBytes(a.config));
    const back = a.loadState(bytes);
    expect(back.position).toBe(5);
    expect(back.conv).toEqual(st.conv);
    expect(back.ssm).toEqual(st.ssm);
    const withMeta = saveState(a.config, st, { note: 'hi', ids: [1, 2] });
    expect(decodeState(a.config, withMeta).metadata).toEqual({ note: 'hi', ids: [1, 2] });
    expect(loadState(a.config, withMeta).ssm).toEqual(st.ssm);
  });

  it('continuing from restored bytes = continuing without the save (greedy and sampled)', async () => {
    const prompt = [7, 3, 9, 11, 2, 40, 5];
    for (const opts of [{ temperature: 0 }, { temperature: 0.9, topK: 20, seed: 5 }]) {
      const st = a.createState();
      const first = generateIds(a, prompt, { ...opts, maxTokens: 6, state: st });
      const s1 = await first.done();
      const pending = s1.pendingToken!;
      const bytes = a.saveState(s1.state);
      const direct = await tokens(a, [pending, 1, 2], { ...opts, maxTokens: 10, state: cloneState(s1.state) });
      const restored = await tokens(a, [pending, 1, 2], { ...opts, maxTokens: 10, state: a.loadState(bytes) });
      expect(restored).toEqual(direct);
      // And both equal one uninterrupted prefill of the whole history.
      const history = [...prompt, ...s1.tokens, 1, 2];
      const fresh = await tokens(a, history, { ...opts, maxTokens: 10 });
      expect(fresh).toEqual(direct);
    }
  });

  it('bad bytes are clear InputErrors', async () => {
    const st = a.createState();
    await a.prefill(st, [1, 2]);
    const bytes = a.saveState(st);
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err(() => a.loadState(bytes.subarray(0, 20)))).toMatch(/too short/);
    expect(err(() => a.loadState(bytes.subarray(0, bytes.length - 4)))).toMatch(/truncated/);
    const longer = new Uint8Array(bytes.length + 3);
    longer.set(bytes);
    expect(err(() => a.loadState(longer))).toMatch(/unexpected bytes/);
    expect(err(() => b.loadState(bytes))).toMatch(/another model.*dInner 24.*dInner 20/);
    expect(err(() => c.loadState(bytes))).toMatch(/another model.*fingerprint/);
    const bad = Uint8Array.from(bytes);
    bad[0] = 0x58;
    expect(err(() => a.loadState(bad))).toMatch(/magic/);
    const v2 = Uint8Array.from(bytes);
    new DataView(v2.buffer).setUint32(8, STATE_FORMAT_VERSION + 1, true);
    expect(err(() => a.loadState(v2))).toMatch(/version 2 is not supported/);
    expect(err(() => saveState(b.config, st))).toMatch(/does not fit/);
  });
});
