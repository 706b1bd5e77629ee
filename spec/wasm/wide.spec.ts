// A model whose rows are longer than one column block of the bf16 layout (2048, src/wasm/layout.ts): dModel 2056
// puts in_proj, the embeddings and the tied lm_head in 2 blocks, dInner 4100 puts x_proj and out_proj in 3. The
// fixture models are all narrower, so this is the engine-level check of the block-major path (loader scatter,
// matvec, prefill tiles, embedding gather, row slices of in_proj, a split over parts).
// Weights are rounded to bf16 before they are written (as f32), so the reference and the bf16 engine multiply the
// same numbers; tolerance vs the reference |a − b| ≤ 1e-4 + 1e-4·|ref| as in spec/wasm/engine.spec.ts.
import { rmSync } from 'node:fs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/index.ts';
import { encodeSafetensors } from '../../src/io/safetensors.ts';
import type { WasmModel } from '../../src/wasm/model.ts';
import { expectClose } from '../helpers/close.ts';
import { expectChunkedPrefillMatches, expectStepMatchesForward, randomIds } from '../helpers/state-paths.ts';
import { randomTensors, type TinyShape } from '../helpers/tiny-model.ts';

const VS_REF = { atol: 1e-4, rtol: 1e-4 };
// step runs the matvec (a partial sum per 2048-column block, then added) and prefill the 4-token tiles (vector
// accumulators across blocks, one horizontal sum): over rows of 4100 terms the two f32 orders differ by up to
// ~3e-4 here, so the state paths are held to the reference's tolerance, and each also to the reference itself.
const SAME = VS_REF;
const SHAPE: TinyShape = { model_type: 'falcon_mamba', hidden_size: 2056, intermediate_size: 4100, state_size: 4, conv_kernel: 4, time_step_rank: 8, num_hidden_layers: 2, vocab_size: 33, tie_word_embeddings: true };

/** Rounds f32 values to the nearest bf16 (ties to even), kept as f32. */
function toBf16Values(a: Float32Array): Float32Array {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (let i = 0; i < u.length; i++) u[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16) << 16;
  return a;
}

const dir = mkdtempSync(join(tmpdir(), 'fm-wide-'));
const tensors = randomTensors(SHAPE, 11);
for (const t of tensors.values()) if (t.data instanceof Float32Array) toBf16Values(t.data);
writeFileSync(join(dir, 'config.json'), JSON.stringify(SHAPE));
writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('wasm bf16 with rows in several column blocks', () => {
  let wasm: WasmModel;
  let ref: Model;
  const ids = randomIds(11, SHAPE.vocab_size, 4);

  it('loads (2 threads, chunkSize 4 so prefill runs 4-token tiles and a tail)', async () => {
    wasm = (await loadModel(dir, { backend: 'wasm', dtype: 'bf16', threads: 2, chunkSize: 4 })) as WasmModel;
    ref = await loadModel(dir, { backend: 'reference' });
    expect(wasm.parts).toHaveLength(1);
  });

  it('forward = reference forward at every position', async () => {
    expectClose(await wasm.forward(ids), await ref.forward(ids), VS_REF, 'wide forward');
  });

  it('step = forward rows = reference, chunked prefill = one prefill', async () => {
    await expectStepMatchesForward(wasm, ids, SAME, 'wide');
    const sw = wasm.createState();
    const sr = ref.createState();
    for (const id of ids) expectClose(await wasm.step(sw, id), await ref.step(sr, id), VS_REF, 'wide step vs reference');
    await expectChunkedPrefillMatches(wasm, ids, [3, 1, 5], SAME);
  });

  it('split over parts: the same bits', async () => {
    const split = (await loadModel(dir, { backend: 'wasm', dtype: 'bf16', threads: 2, chunkSize: 4, maxPartBytes: 64 << 20 })) as WasmModel;
    expect(split.parts.length).toBeGreaterThanOrEqual(2);
    const a = await split.forward(ids);
    const b = await wasm.forward(ids);
    expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer))).toBe(0);
    split.dispose();
    wasm.dispose();
  });
});
