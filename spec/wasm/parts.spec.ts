// A model split over several wasm memories. One wasm32 memory holds at most 4 GiB, so the 7B (14.5 GB
// in bf16) is split by layers into parts; here `maxPartBytes` is lowered to the smallest size each fixture model
// can be split at, so every case is cut into several parts, and the split model must give the one-part model's
// logits and states bit for bit (the same kernels do the same arithmetic; only h and the state are copied
// between memories), match the transformers goldens, and keep every equivalence of the state paths.
import { describe, expect, it } from 'vitest';
import { InputError, loadModel } from '../../src/index.ts';
import { Checkpoint } from '../../src/io/checkpoint.ts';
import { compileKernels, createMemory, instantiateKernels } from '../../src/wasm/kernels.ts';
import { MAX_PART_BYTES, planMemory, planParts, type WasmPlan } from '../../src/wasm/plan.ts';
import type { WasmModel } from '../../src/wasm/model.ts';
import { defineGoldenSuite } from '../helpers/golden-suite.ts';
import { loadGoldenCases, REPO } from '../helpers/goldens.ts';
import { expectChunkedPrefillMatches, expectStepMatchesForward, randomIds } from '../helpers/state-paths.ts';
import { writeTinyModel, type TinyShape } from '../helpers/tiny-model.ts';

const base = (await instantiateKernels(await compileKernels(), createMemory(1))).heapBase();
const CHUNK = 8; // small chunks: many hand-overs between parts per prefill

/** The smallest maxPartBytes at which the model can be split: its largest indivisible piece. */
async function smallestSplit(dir: string, dtype: 'auto' | 'q8' = 'auto'): Promise<number> {
  const ckpt = await Checkpoint.open(dir);
  const { nLayer, tieWordEmbeddings: tied } = ckpt.config;
  const sizes = [planMemory(ckpt, base, CHUNK, dtype, { layer0: nLayer, layer1: nLayer, embeddings: tied, head: true }).bytes];
  if (!tied) sizes.push(planMemory(ckpt, base, CHUNK, dtype, { layer0: 0, layer1: 0, embeddings: true, head: false }).bytes);
  for (let i = 0; i < nLayer; i++) sizes.push(planMemory(ckpt, base, CHUNK, dtype, { layer0: i, layer1: i + 1, embeddings: false, head: false }).bytes);
  return Math.max(...sizes);
}

/** Every layer in exactly one part, in order; embeddings first (or with a tied head), head last; each part fits. */
function expectWellFormed(plans: WasmPlan[], nLayer: number, tied: boolean, max: number): void {
  let next = 0;
  for (const p of plans) {
    expect(p.spec.layer0).toBe(next);
    expect(p.layers.length).toBe(p.spec.layer1 - p.spec.layer0);
    next = p.spec.layer1;
    expect(p.bytes).toBeLessThanOrEqual(max);
    expect(p.slots.length).toBe(plans.length === 1 ? 4 : 0);
  }
  expect(next).toBe(nLayer);
  expect(plans.filter((p) => p.lmHead).length).toBe(1);
  expect(plans.at(-1)!.lmHead).not.toBeNull();
  expect(plans.filter((p) => p.embeddings).length).toBe(1);
  expect((tied ? plans.at(-1)! : plans[0]).embeddings).not.toBeNull();
}

// Fixture models (their layers are smaller than their embeddings: 2 parts or more), and "deep" random models whose
// layers dominate, so each layer gets a part of its own, tied and untied.
const DEEP: TinyShape = { hidden_size: 64, intermediate_size: 256, state_size: 16, conv_kernel: 4, time_step_rank: 8, num_hidden_layers: 6, vocab_size: 40 };
const CASES = [
  ...['falcon-odd', 'falcon-f32-sharded', 'mamba-bias'].map((n) => `${REPO}/fixtures/models/${n}`),
  writeTinyModel({ ...DEEP, tie_word_embeddings: false }, 3),
  writeTinyModel({ ...DEEP, model_type: 'mamba', use_bias: true, tie_word_embeddings: true }, 4),
];
/** The same f32 bits everywhere (the first difference is printed): `toEqual` is too slow for 2M-float arrays. */
function expectSameBits(a: Float32Array, b: Float32Array, label: string): void {
  expect(a.length, label).toBe(b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let i = 0;
  while (i < x.length && x[i] === y[i]) i++;
  expect(i === x.length ? null : `${label}[${i}]: ${a[i]} vs ${b[i]}`).toBeNull();
}

const name = (dir: string) => (dir.includes('/fixtures/') ? dir.split('/').at(-1)! : 'deep random');

describe('planParts', () => {
  it.each(CASES)('%s: split at its smallest size, every part well formed', async (dir) => {
    const ckpt = await Checkpoint.open(dir);
    const max = await smallestSplit(dir);
    const plans = planParts(ckpt, base, CHUNK, 'auto', max);
    expect(plans.length).toBeGreaterThanOrEqual(dir.includes('/fixtures/') ? 2 : ckpt.config.nLayer);
    expectWellFormed(plans, ckpt.config.nLayer, ckpt.config.tieWordEmbeddings, max);
  });

  it('a model that fits gets one part, the plan planMemory makes', async () => {
    const ckpt = await Checkpoint.open(CASES[0]);
    const plans = planParts(ckpt, base, CHUNK, 'auto', MAX_PART_BYTES);
    expect(plans).toHaveLength(1);
    expect(plans[0]).toEqual(planMemory(ckpt, base, CHUNK, 'auto'));
  });

  it('a piece that cannot fit is an InputError naming it; bad maxPartBytes is refused', async () => {
    const deep = CASES[3];
    const max = await smallestSplit(deep);
    const err = await loadModel(deep, { backend: 'wasm', chunkSize: CHUNK, maxPartBytes: max - 64, threads: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(String(err.message)).toMatch(/^layer \d+ does not fit in one wasm memory of [\d.]+ MiB/);
    const tied = await Checkpoint.open(CASES[0]);
    const tiedMax = await smallestSplit(CASES[0]);
    expect(() => planParts(tied, base, CHUNK, 'auto', tiedMax - 64)).toThrow(/lm_head \(tied to the embeddings\) do not fit/);
    for (const bad of [0, 1.5, MAX_PART_BYTES + 1]) {
      await expect(loadModel(deep, { backend: 'wasm', maxPartBytes: bad })).rejects.toThrow(/maxPartBytes must be an integer/);
    }
  });
});

describe('a split model computes exactly what the one-part model computes', () => {
  for (const dir of CASES) {
    for (const dtype of ['auto', 'q8'] as const) {
      it(`${name(dir)} #${CASES.indexOf(dir)} ${dtype}, 2 threads: logits and states identical`, async () => {
        const max = await smallestSplit(dir, dtype);
        const one = (await loadModel(dir, { backend: 'wasm', dtype, threads: 2, chunkSize: CHUNK })) as WasmModel;
        const split = (await loadModel(dir, { backend: 'wasm', dtype, threads: 2, chunkSize: CHUNK, maxPartBytes: max })) as WasmModel;
        expect(one.parts).toHaveLength(1);
        expect(split.parts.length).toBeGreaterThanOrEqual(2);
        const ids = randomIds(29, one.config.vocabSize, 5);
        expectSameBits(await split.forward(ids), await one.forward(ids), 'forward');
        const a = one.createState();
        const b = split.createState();
        expectSameBits(await split.prefill(b, ids), await one.prefill(a, ids), 'prefill');
        expectSameBits(await split.step(b, 3), await one.step(a, 3), 'step');
        expectSameBits(b.conv, a.conv, 'conv state');
        expectSameBits(b.ssm, a.ssm, 'ssm state');
        expect(b.position).toBe(a.position);
        one.dispose();
        split.dispose();
      });
    }
  }

  it('state paths hold on the split model: step = forward, chunked prefill = one prefill', async () => {
    const dir = CASES[3];
    const m = await loadModel(dir, { backend: 'wasm', threads: 1, chunkSize: CHUNK, maxPartBytes: await smallestSplit(dir) });
    const ids = randomIds(21, m.config.vocabSize, 9);
    const tol = { atol: 1e-5, rtol: 1e-5 };
    await expectStepMatchesForward(m, ids, tol, 'split');
    await expectChunkedPrefillMatches(m, ids, [1, 5, 9, 2], tol);
    await m.dispose();
  });

  it('progress: every tensor once, in order of loading, ending at the checkpoint bytes', async () => {
    const dir = CASES[1];
    const ckpt = await Checkpoint.open(dir);
    const seen: { loadedBytes: number; totalBytes: number; tensor: string }[] = [];
    const m = await loadModel(dir, { backend: 'wasm', threads: 1, chunkSize: CHUNK, maxPartBytes: await smallestSplit(dir), onProgress: (p) => seen.push(p) });
    expect(new Set(seen.map((p) => p.tensor)).size).toBe(seen.length);
    expect(seen.length).toBe(ckpt.tensors.size);
    for (let i = 1; i < seen.length; i++) expect(seen[i].loadedBytes).toBeGreaterThan(seen[i - 1].loadedBytes);
    expect(seen.at(-1)!.loadedBytes).toBe(ckpt.totalBytes);
    expect(seen.every((p) => p.totalBytes === ckpt.totalBytes)).toBe(true);
    await m.dispose();
  });
});

// The transformers goldens through a split model, on 1 and 2 threads.
for (const threads of [1, 2]) {
  defineGoldenSuite(`wasm split into parts, threads ${threads}`, loadGoldenCases(), async (dir) =>
    loadModel(dir, { backend: 'wasm', threads, chunkSize: CHUNK, maxPartBytes: await smallestSplit(dir) }),
  );
}
