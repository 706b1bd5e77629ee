// Saved top-k log-probabilities and the KL divergence against them: the bucketed KL equals its definition
// computed directly from two rows of logits (and the full-vocabulary KL when k = V); a model against itself gives
// exactly 0 (KLD, logit error) and full top-1 agreement; the demo model's q4 against its bf16 gives a positive
// KLD that is reproducible bit for bit, above q8's; the file round-trips and every malformed file is refused with
// a one-line InputError naming what is wrong.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allocTopK, decodeTopK, encodeTopK, InputError, KldAccumulator, loadModel, LOGPROBS_FORMAT_VERSION, perplexity, recordTopK, rowStats, Tokenizer,
  type LogProbsHeader, type Model, type TopKLogProbs,
} from '../../src/index.ts';
import { REPO } from '../helpers/goldens.ts';
import { rng } from '../helpers/tiny-model.ts';

function softmax(x: Float32Array): number[] {
  const s = rowStats(x, x.length);
  return Array.from(x, (v) => Math.exp(v - s.logSumExp));
}

/** KL(P ‖ Q) over the buckets {each of the base's top-k ids} ∪ {the rest}, from the definition. */
function bucketKl(p: Float32Array, q: Float32Array, k: number): number {
  const P = softmax(p);
  const Q = softmax(q);
  const top = [...P.keys()].sort((a, b) => P[b] - P[a] || a - b).slice(0, k);
  let kl = 0;
  let pr = 1;
  let qr = 1;
  for (const i of top) {
    kl += P[i] * Math.log(P[i] / Q[i]);
    pr -= P[i];
    qr -= Q[i];
  }
  if (k < p.length) kl += pr * Math.log(pr / qr);
  return kl;
}

function header(V: number, k: number, positions: number, tokens: number): LogProbsHeader {
  return { vocabSize: V, k, tokens, positions, mode: { kind: 'stream' }, nllSum: 0 };
}

describe('KLD arithmetic', () => {
  for (const k of [1, 4, 37]) {
    it(`bucketed KL with k = ${k} of V = 37 = its definition (|diff| ≤ 1e-9 + 1e-6·KL)`, () => {
      const r = rng(7 + k);
      const V = 37;
      const rows = Array.from({ length: 6 }, () => [Float32Array.from({ length: V }, () => r() * 8 - 4), Float32Array.from({ length: V }, () => r() * 8 - 4)]);
      const base = allocTopK(header(V, k, rows.length, 0), []);
      const scratch = new Uint8Array(V);
      rows.forEach(([p], i) => recordTopK(base, i, p, rowStats(p, V), scratch));
      rows.forEach(([p, q], i) => {
        const acc = new KldAccumulator(base);
        acc.add(i, q, rowStats(q, V));
        const want = bucketKl(p, q, k);
        expect(Math.abs(acc.summary().meanKld - want), `row ${i}: ${acc.summary().meanKld} vs ${want}`).toBeLessThanOrEqual(1e-9 + 1e-6 * want);
      });
    });
  }
});

describe('KLD of real runs (demo model)', () => {
  let ids: number[];
  let bf16: Model;
  let base: TopKLogProbs;
  beforeAll(async () => {
    const tok = await Tokenizer.fromFile(join(REPO, 'models/demo/tokenizer.json'));
    ids = tok.encode(readFileSync(join(REPO, 'fixtures/demo/heldout.txt'), 'utf8')).slice(0, 300);
    bf16 = await loadModel(join(REPO, 'models/demo'), { backend: 'wasm' });
    base = decodeTopK(encodeTopK((await perplexity(bf16, ids, { saveTopK: 8 })).topK!));
  });
  afterAll(() => bf16?.dispose());

  it('against itself: KLD exactly 0, top-1 agreement 1, logit error 0, same NLL', async () => {
    const r = await perplexity(bf16, ids, { compare: base });
    expect(r.kld!.meanKld).toBe(0);
    expect(r.kld!.maxKld).toBe(0);
    expect(r.kld!.top1Agreement).toBe(1);
    expect(r.kld!.meanLogitError).toBe(0);
    expect(r.kld!.baseMeanNll).toBe(r.meanNll);
  });

  it('q4 against bf16: positive, reproducible bit for bit, above q8', async () => {
    const runs = [];
    for (const dtype of ['q4', 'q4', 'q8'] as const) {
      const m = await loadModel(join(REPO, 'models/demo'), { backend: 'wasm', dtype });
      try {
        runs.push((await perplexity(m, ids, { compare: base })).kld!);
      } finally {
        await m.dispose();
      }
    }
    const [q4, q4again, q8] = runs;
    expect(q4.meanKld).toBeGreaterThan(0);
    expect(q4again).toEqual(q4);
    expect(q8.meanKld).toBeGreaterThan(0);
    expect(q8.meanKld).toBeLessThan(q4.meanKld);
    expect(q4.maxKld).toBeGreaterThanOrEqual(q4.meanKld);
    expect(q4.top1Agreement).toBeLessThanOrEqual(1);
  });

  it('refuses saved log-probabilities of another text, length or mode', async () => {
    const other = ids.slice();
    other[5] = (other[5] + 1) % 4096;
    await expect(perplexity(bf16, other, { compare: base })).rejects.toThrow(/other text: token 5/);
    await expect(perplexity(bf16, ids.slice(0, 299), { compare: base })).rejects.toThrow(/cover 300 tokens/);
    await expect(perplexity(bf16, ids, { compare: base, ctx: 64 })).rejects.toThrow(/mode/);
  });
});

describe('the log-probabilities file', () => {
  const V = 50;
  const k = 3;
  const make = (): TopKLogProbs => {
    const r = rng(3);
    const t = allocTopK({ ...header(V, k, 4, 5), source: 'spec' }, [1, 2, 3, 4, 5]);
    const scratch = new Uint8Array(V);
    for (let p = 0; p < 4; p++) {
      const row = Float32Array.from({ length: V }, () => r() * 6);
      recordTopK(t, p, row, rowStats(row, V), scratch);
    }
    return t;
  };
  const fail = (bytes: Uint8Array, re: RegExp) => {
    expect(() => decodeTopK(bytes, 'f.topk')).toThrow(InputError);
    expect(() => decodeTopK(bytes, 'f.topk')).toThrow(re);
  };

  it('round-trips every field', () => {
    const t = make();
    const back = decodeTopK(encodeTopK(t));
    expect(back.header).toEqual(t.header);
    for (const f of ['tokens', 'logSumExp', 'restLogProb', 'ids', 'logits'] as const) expect(Array.from(back[f])).toEqual(Array.from(t[f]));
  });

  it('refuses a wrong magic, version, truncation, a bad header, an id outside the vocabulary, a logit above its log-sum-exp', () => {
    const good = encodeTopK(make());
    const edit = (f: (b: Uint8Array, dv: DataView) => void) => {
      const b = good.slice();
      f(b, new DataView(b.buffer));
      return b;
    };
    fail(good.subarray(0, 10), /f\.topk: truncated/);
    fail(edit((b) => (b[0] = 0x41)), /magic/);
    fail(edit((_, dv) => dv.setUint32(8, LOGPROBS_FORMAT_VERSION + 1, true)), /format version 2/);
    fail(good.subarray(0, good.length - 4), /needs/);
    fail(edit((_, dv) => dv.setUint32(12, 1 << 30, true)), /runs past the end/);
    const H = new DataView(good.buffer).getUint32(12, true);
    const head = (H + 16 + 3) & ~3;
    fail(edit((_, dv) => dv.setUint32(head, V, true)), /token 0 is id 50/);
    const rec = head + 4 * 5;
    fail(edit((_, dv) => dv.setUint32(rec + 16, 999, true)), /position 0: id 999/);
    fail(edit((_, dv) => dv.setFloat32(rec + 16 + 4 * k, 1e6, true)), /position 0: logit 1000000/);
    fail(edit((_, dv) => dv.setFloat64(rec + 8, 0.5, true)), /rest log-probability/);
    const json = (h: object) => {
      const t = make();
      const bytes = encodeTopK({ ...t, header: { ...t.header, ...h } as LogProbsHeader });
      return bytes;
    };
    fail(json({ k: 0 }), /header field k/);
    fail(json({ mode: { kind: 'windows' } }), /mode.ctx/);
    fail(json({ nllSum: 'x' }), /nllSum/);
  });
});
