/**
 * Quality of block-quantized weights (docs/quantization.md), measured with the reference backend only:
 *
 *   npx tsx bench/quant-quality.ts [--windows 8]
 *
 * For every golden case (spec/helpers/goldens.ts) and the trained demo model when models/demo/ exists, the
 * large matrices (in_proj, x_proj, dt_proj, out_proj, embeddings, lm_head) are replaced by quantize → dequantize
 * versions (src/reference/quant.ts); conv, A, D, biases and norms stay f32. Variants:
 *   f32       the reference model as loaded
 *   q8, q4    quantized weights, f32 activations (what `linearQ` computes)
 *   q8+a, q4+a  also the activation entering every linear layer quantized per block of 32 (Q8_0, as the wasm
 *             kernels' integer dot does: `linearQInt` = linear on dequantized weights and activations, spec'd in
 *             spec/kernels/quant.spec.ts), i.e. what the engine will compute
 * Measured against f32 on the same inputs: max |logit error| over the golden sequences' recorded positions,
 * argmax agreement over all positions, greedy agreement (the 16 greedy tokens after each sequence, each variant
 * feeding back its own choices, position-wise equal to f32's), and mean NLL (nats/token) of a fixed text: the
 * demo held-out text when present (tokenized with models/demo/tokenizer.json, no special tokens, the first
 * `--windows` windows of 256 tokens as fixtures/demo/heldout-loss.mts does), else the golden sequences' ids.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { ModelConfig } from '../src/config.ts';
import { loadModel } from '../src/load.ts';
import { ReferenceModel, type LayerWeights, type LinearFn, type Weights } from '../src/reference/model.ts';
import { linear } from '../src/reference/ops.ts';
import { dequantize, quantize, quantizeActivationQ8 } from '../src/reference/quant.ts';
import { nextTokenNll } from '../src/eval.ts';
import { Tokenizer } from '../src/tokenizer/index.ts';
import { loadGoldenCases, REPO } from '../spec/helpers/goldens.ts';

/** The variants measured, f32 first. */
export const VARIANTS = ['f32', 'q8', 'q8+a', 'q4', 'q4+a'] as const;
export type Variant = (typeof VARIANTS)[number];

/** One model's results per variant. */
export interface QualityRow {
  model: string;
  variant: Variant;
  /** max |logit − f32 logit| over the recorded positions. */
  maxLogitErr: number;
  /** maxLogitErr / max |f32 logit| over the same positions (random fixture models have logits of ±10s). */
  relLogitErr: number;
  /** Fraction of positions (all sequences, and the NLL text's windows) whose argmax equals f32's. */
  argmaxAgree: number;
  /** Fraction of the greedy tokens (16 per sequence) equal to f32's, position by position. */
  greedyAgree: number;
  /** Mean negative log-likelihood (nats/token) of the text. */
  nll: number;
  /** What the NLL was measured on. */
  text: string;
  tokens: number;
}

/** Quantize → dequantize one (rows, cols) matrix. */
function roundTrip(kind: 'q8' | 'q4', W: Float32Array, rows: number, cols: number): Float32Array {
  return dequantize(quantize(kind, W, rows, cols));
}

/** Weights with the large matrices replaced by quantize → dequantize versions (tied embeddings stay tied). */
export function quantizedWeights(c: ModelConfig, w: Weights, kind: 'q8' | 'q4'): Weights {
  const { dModel: D, dInner: E, dState: N, dtRank: R, vocabSize: V } = c;
  const layers: LayerWeights[] = w.layers.map((l) => ({
    ...l,
    inProj: roundTrip(kind, l.inProj, 2 * E, D),
    xProj: roundTrip(kind, l.xProj, R + 2 * N, E),
    dtProj: roundTrip(kind, l.dtProj, E, R),
    outProj: roundTrip(kind, l.outProj, D, E),
  }));
  const embeddings = roundTrip(kind, w.embeddings, V, D);
  const lmHead = w.lmHead === w.embeddings ? embeddings : roundTrip(kind, w.lmHead, V, D);
  return { embeddings, layers, normF: w.normF, lmHead };
}

/** `linear` on the activation quantized per block of 32 and dequantized: the kernels' integer dot (to 2^-22). */
export const linearActQ8: LinearFn = (out, x, W, bias, L, inF, outF) => {
  const a = quantizeActivationQ8(x, L, inF);
  const xd = new Float32Array(L * inF);
  for (let t = 0; t < L; t++) {
    for (let i = 0; i < inF; i++) xd[t * inF + i] = Math.fround(a.scales[t * a.blocksPerRow + (i >> 5)] * a.quants[t * a.blocksPerRow * 32 + i]);
  }
  linear(out, xd, W, bias, L, inF, outF);
};

function argmax(a: Float32Array, off: number, n: number): number {
  let b = 0;
  for (let i = 1; i < n; i++) if (a[off + i] > a[off + b]) b = i;
  return b;
}

interface Model {
  name: string;
  config: ModelConfig;
  weights: Weights;
  model: ReferenceModel;
  seqs: { ids: number[]; positions: number[] }[];
  /** The NLL text's ids (and what it is), or null to use the sequences. */
  text: { ids: number[]; label: string } | null;
}

/** Runs every variant on one model. */
export function measureModel(m: Model, windows = 8): QualityRow[] {
  const c = m.config;
  const V = c.vocabSize;
  const fresh = () => m.model.createState();
  const weightsOf = new Map<Variant, Weights>();
  weightsOf.set('f32', m.weights);
  const q8 = quantizedWeights(c, m.weights, 'q8');
  const q4 = quantizedWeights(c, m.weights, 'q4');
  weightsOf.set('q8', q8).set('q8+a', q8).set('q4', q4).set('q4+a', q4);
  const linOf = (v: Variant): LinearFn => (v.endsWith('+a') ? linearActQ8 : linear);

  type Out = { logits: Float32Array[]; greedy: number[][]; nll: number; tokens: number; textArgmax: number[] };
  const outs = new Map<Variant, Out>();
  for (const v of VARIANTS) {
    // The reference model itself, on this variant's weights and linear arithmetic.
    const variant = new ReferenceModel(c, weightsOf.get(v)!, linOf(v));
    const logits: Float32Array[] = [];
    const greedy: number[][] = [];
    let nll = 0;
    let tokens = 0;
    const textArgmax: number[] = [];
    for (const s of m.seqs) {
      const st = fresh();
      const all = variant.run(st, s.ids, true);
      logits.push(all);
      if (!m.text) {
        const r = nextTokenNll(all, s.ids, V);
        nll += r.sum;
        tokens += r.count;
      }
      const g: number[] = [];
      let next = argmax(all, (s.ids.length - 1) * V, V);
      for (let k = 0; k < 16; k++) {
        g.push(next);
        if (k < 15) next = argmax(variant.run(st, [next], false), 0, V);
      }
      greedy.push(g);
    }
    if (m.text) {
      // fixtures/demo/heldout-loss.mts's protocol: windows of 256 ids from a fresh state, mean over each
      // window's 255 predictions, then over windows (here the first `windows` of them).
      const W = 256;
      const nw = Math.min(windows, Math.floor(m.text.ids.length / W));
      nll = 0;
      for (let k = 0; k < nw; k++) {
        const ids = m.text.ids.slice(k * W, (k + 1) * W);
        const all = variant.run(fresh(), ids, true);
        const r = nextTokenNll(all, ids, V);
        nll += r.mean;
        for (let t = 0; t < W; t++) textArgmax.push(argmax(all, t * V, V));
      }
      nll = (nll / nw) * (nw * (W - 1)); // stored as a sum over tokens, divided below
      tokens = nw * (W - 1);
    }
    outs.set(v, { logits, greedy, nll: nll / Math.max(1, tokens), tokens, textArgmax });
  }

  const base = outs.get('f32')!;
  return VARIANTS.map((v) => {
    const o = outs.get(v)!;
    let maxErr = 0;
    let maxRef = 0;
    let agree = 0;
    let positions = 0;
    let gAgree = 0;
    let gTotal = 0;
    m.seqs.forEach((s, i) => {
      for (const p of s.positions) {
        for (let j = 0; j < V; j++) {
          maxErr = Math.max(maxErr, Math.abs(o.logits[i][p * V + j] - base.logits[i][p * V + j]));
          maxRef = Math.max(maxRef, Math.abs(base.logits[i][p * V + j]));
        }
      }
      for (let t = 0; t < s.ids.length; t++) {
        positions++;
        if (argmax(o.logits[i], t * V, V) === argmax(base.logits[i], t * V, V)) agree++;
      }
      for (let k = 0; k < 16; k++, gTotal++) if (o.greedy[i][k] === base.greedy[i][k]) gAgree++;
    });
    o.textArgmax.forEach((a, t) => {
      positions++;
      if (a === base.textArgmax[t]) agree++;
    });
    return {
      model: m.name,
      variant: v,
      maxLogitErr: maxErr,
      relLogitErr: maxErr / maxRef,
      argmaxAgree: agree / positions,
      greedyAgree: gAgree / gTotal,
      nll: o.nll,
      text: m.text ? m.text.label : 'golden ids',
      tokens: o.tokens,
    };
  });
}

/**
 * The models to measure: every golden case, then the demo model if present (`demoDir` with config.json,
 * model.safetensors and tokenizer.json; `heldout` its text).
 */
export async function qualityModels(
  demoDir = join(REPO, 'models', 'demo'),
  heldout = join(REPO, 'fixtures', 'demo', 'heldout.txt'),
  goldens = true,
): Promise<Model[]> {
  const models: Model[] = [];
  for (const g of goldens ? loadGoldenCases() : []) {
    const model = (await loadModel(g.modelDir, { backend: 'reference' })) as ReferenceModel;
    models.push({
      name: g.name,
      config: model.config,
      weights: model.weights,
      model,
      seqs: g.seqs.map((s) => ({ ids: s.ids, positions: s.positions })),
      text: null,
    });
  }
  const demo = demoDir;
  if (existsSync(join(demo, 'config.json')) && existsSync(join(demo, 'tokenizer.json'))) {
    const model = (await loadModel(demo, { backend: 'reference' })) as ReferenceModel;
    const tok = await Tokenizer.fromFile(join(demo, 'tokenizer.json'));
    const text = existsSync(heldout) ? readFileSync(heldout, 'utf8') : null;
    const prompts = ['The old man', 'It was a'];
    models.push({
      name: 'demo',
      config: model.config,
      weights: model.weights,
      model,
      seqs: prompts.map((p) => {
        const ids = tok.encode(p);
        return { ids, positions: [ids.length - 1] };
      }),
      text: text ? { ids: tok.encode(text, { addSpecialTokens: false }), label: 'fixtures/demo/heldout.txt' } : null,
    });
  }
  return models;
}

/** The table printed by the command. */
export function formatTable(rows: QualityRow[]): string {
  const lines = [
    '| model | variant | max abs logit err | ÷ max abs logit | argmax agree | greedy agree | NLL (nats/tok) | ΔNLL vs f32 | NLL text (tokens) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const f32Nll = new Map(rows.filter((r) => r.variant === 'f32').map((r) => [r.model, r.nll]));
  for (const r of rows) {
    lines.push(
      `| ${r.model} | ${r.variant} | ${r.maxLogitErr.toExponential(2)} | ${r.relLogitErr.toExponential(2)} | ${(100 * r.argmaxAgree).toFixed(1)}% | ${(100 * r.greedyAgree).toFixed(1)}% | ` +
        `${r.nll.toFixed(4)} | ${(r.nll - f32Nll.get(r.model)!).toFixed(4)} | ${r.text} (${r.tokens}) |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { windows: { type: 'string', default: '8' } } });
  const rows: QualityRow[] = [];
  for (const m of await qualityModels()) {
    const t0 = performance.now();
    const r = measureModel(m, Number(values.windows));
    rows.push(...r);
    const ref = join(REPO, 'fixtures', 'demo', 'heldout-loss.json');
    if (m.name === 'demo' && m.text && existsSync(ref)) {
      // Sanity: the f32 figure against transformers' window means over the same windows.
      const wm: number[] = JSON.parse(readFileSync(ref, 'utf8')).window_mean_nll;
      const n = Math.min(Number(values.windows), wm.length);
      const hf = wm.slice(0, n).reduce((a, b) => a + b, 0) / n;
      console.error(`demo f32 NLL ${r[0].nll.toFixed(5)} vs transformers ${hf.toFixed(5)} over the same ${n} windows`);
    }
    console.error(`${m.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  console.log(formatTable(rows));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
