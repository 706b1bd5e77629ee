// GGUF Q8_0 / Q4_0 files run natively on the wasm engine's q8 / q4 kernels (src/reference/ggml-repack.ts): the
// file's blocks are repacked, not re-quantized.
// 1. The repack is lossless: dequantize(repacked) = ggml's dequantized weights, bit for bit, on every matrix.
// 2. With dtype 'auto' the engine plans those matrices as q8 / q4 (not f32).
// 3. Logits = the twin (the reference on the file's weights, with the engine's activation quantization and
//    integer block dots, src/reference/quant.ts quantizeActivationQ8 + linearQInt) under the rule the engine's own
//    q8/q4 meet against their twin (spec/wasm/quant-engine.spec.ts): |a − b| ≤ 1e-4·max|b| + 1e-4·|b|.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/index.ts';
import { GgufCheckpoint } from '../../src/io/gguf-checkpoint.ts';
import { ggmlToQuantMatrix } from '../../src/reference/ggml-repack.ts';
import { dequantize as ggmlDequantize } from '../../src/reference/ggml-dequant.ts';
import { ReferenceModel, type Weights } from '../../src/reference/model.ts';
import { dequantize, linearQInt, quantizeActivationQ8, type QuantMatrix } from '../../src/reference/quant.ts';
import { planWasmMemory } from '../../src/wasm/plan.ts';
import { argmaxRow, expectClose } from '../helpers/close.ts';
import { REPO } from '../helpers/goldens.ts';

const MATRICES = (nLayer: number) => [
  'backbone.embeddings.weight', 'lm_head.weight',
  ...Array.from({ length: nLayer }, (_, i) => ['in_proj', 'x_proj', 'dt_proj', 'out_proj'].map((m) => `backbone.layers.${i}.mixer.${m}.weight`)).flat(),
];

for (const type of ['Q8_0', 'Q4_0'] as const) {
  const file = join(REPO, `fixtures/gguf/falcon-wide.${type}.gguf`);
  const kind = type === 'Q8_0' ? 'q8' : 'q4';
  describe(`GGUF ${type} on the wasm ${kind} kernels`, () => {
    const Q = new Map<string, QuantMatrix>();
    let ck: GgufCheckpoint;

    it('repacks every matrix losslessly (dequantized = ggml dequantized, bit for bit)', async () => {
      ck = await GgufCheckpoint.open(file);
      for (const name of MATRICES(ck.config.nLayer)) {
        const t = ck.info(name);
        expect(t.gguf.type, name).toBe(type);
        const [rows, cols] = t.shape;
        const blocks = await ck.readBlocks(name);
        const q = ggmlToQuantMatrix(type, blocks, rows, cols);
        Q.set(name, q);
        expectClose(dequantize(q), ggmlDequantize(type, blocks), { atol: 0, rtol: 0 }, `${type} ${name}`);
      }
    });

    it(`dtype 'auto' plans the matrices as ${kind}`, async () => {
      const [plan] = await planWasmMemory(ck);
      const l = plan.layers[0];
      expect([plan.embeddings!.dtype, plan.lmHead!.dtype, l.inProj.dtype, l.xProj.dtype, l.dtProj.dtype, l.outProj.dtype]).toEqual(new Array(6).fill(kind));
    });

    it('forward = the twin on the file\'s weights, element by element; step = forward rows', async () => {
      const ref = (await loadModel(file, { backend: 'reference' })) as ReferenceModel;
      const w = ref.weights;
      const byArray = new Map<Float32Array, QuantMatrix>();
      const layers = w.layers.map((l, i) => {
        const p = `backbone.layers.${i}.mixer.`;
        for (const [arr, m] of [[l.inProj, 'in_proj'], [l.xProj, 'x_proj'], [l.dtProj, 'dt_proj'], [l.outProj, 'out_proj']] as const) byArray.set(arr, Q.get(p + m + '.weight')!);
        return l;
      });
      byArray.set(w.lmHead, Q.get('lm_head.weight')!);
      const weights: Weights = { ...w, layers };
      const twin = new ReferenceModel(ref.config, weights, (out, x, W, bias, L, inF, outF) => {
        const Wq = byArray.get(W);
        if (!Wq) throw new Error(`twin: an unquantized linear layer ${inF} → ${outF}`);
        linearQInt(out, quantizeActivationQ8(x, L, inF), Wq, bias, L, inF, outF);
      });
      const model: Model = await loadModel(file, { backend: 'wasm', threads: 1, chunkSize: 7 });
      try {
        const V = ref.config.vocabSize;
        const ids = Array.from({ length: 19 }, (_, i) => (i * 37 + 5) % V);
        const a = await model.forward(ids);
        const b = await twin.forward(ids);
        let scale = 0;
        for (const v of b) scale = Math.max(scale, Math.abs(v));
        const r = expectClose(a, b, { atol: 1e-4 * scale, rtol: 1e-4 }, `GGUF ${type} wasm vs twin`);
        console.log(`GGUF ${type} native ${kind}: max |wasm − twin| ${r.maxAbs.toExponential(2)} (logit scale ${scale.toFixed(2)})`);
        for (let t = 0; t < ids.length; t++) expect(argmaxRow(a, V, t), `argmax at ${t}`).toBe(argmaxRow(b, V, t));
        const st = model.createState();
        for (let t = 0; t < ids.length; t++) {
          const l = await model.step(st, ids[t]);
          expectClose(l, a.subarray(t * V, (t + 1) * V), { atol: 1e-4 * scale, rtol: 1e-4 }, `step ${t}`);
        }
      } finally {
        await model.dispose();
      }
    });
  });
}
