/**
 * The oracle's promise: plant a bug in a copy of a model, trace it, compare against the correct
 * trace, and `compare` names the tensor where the bug first shows. Uses the falcon-odd fixture (a real
 * transformers checkpoint) and its HF trace as the reference where one exists.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/load.ts';
import { compareTraces, fromHfTrace, readTrace, traceForward, type TraceTensor } from '../../src/oracle/index.ts';
import { ReferenceModel, type LayerWeights } from '../../src/reference/model.ts';
import { REPO } from '../helpers/goldens.ts';

const MODEL = join(REPO, 'fixtures', 'models', 'falcon-odd');
const HF_TRACE = join(REPO, 'fixtures', 'goldens', 'falcon-odd.trace.safetensors');
const IDS = [366, 118, 7, 451, 234, 829, 507, 548, 585, 555];

let good: ReferenceModel;
let goodTrace: TraceTensor[];

/** A copy of the model whose layer `i` has some weights replaced (the original is untouched). */
function withLayer(m: ReferenceModel, i: number, patch: (w: LayerWeights) => Partial<LayerWeights>): ReferenceModel {
  const layers = m.weights.layers.map((w, j) => (j === i ? { ...w, ...patch(w) } : w));
  return new ReferenceModel(m.config, { ...m.weights, layers });
}

function shifted(a: Float32Array, at: number, by: number): Float32Array {
  const b = a.slice();
  b[at] += by;
  return b;
}

beforeAll(async () => {
  good = (await loadModel(MODEL, { backend: 'reference' })) as ReferenceModel;
  goodTrace = await traceForward(good, IDS);
});

describe('planted bugs: compare names the first diverging tensor', () => {
  it('dt/B/C RMS norm left out (FalconMamba run as Mamba) → layers.0.mixer.dt_proj.out; the normed tensors are missing', async () => {
    const buggy = new ReferenceModel({ ...good.config, dtBCNorm: false }, good.weights);
    const bad = await traceForward(buggy, IDS);
    const r = compareTraces(bad, goodTrace);
    expect(r.ok).toBe(false);
    expect(r.first?.name).toBe('layers.0.mixer.dt_proj.out');
    // everything before it agrees exactly (same code up to there) and the norm outputs are absent in A
    const before = r.rows.slice(0, r.rows.indexOf(r.first!));
    expect(before.filter((x) => x.status === 'ok').every((x) => x.maxAbs === 0)).toBe(true);
    expect(before.filter((x) => x.status === 'only-b').map((x) => x.name)).toEqual([
      'layers.0.mixer.x_proj.dt_normed', 'layers.0.mixer.x_proj.B_normed', 'layers.0.mixer.x_proj.C_normed',
    ]);
    // strict: the first missing tensor is the first problem
    expect(compareTraces(bad, goodTrace, { strict: true }).first?.name).toBe('layers.0.mixer.x_proj.dt_normed');
  });

  it('dt/B/C norm computed but not used (a port that emits the normed tensors, then feeds the raw ones on)', async () => {
    // Simulate: a trace where *_normed equal the raw values (the norm forgotten in the port's dt/B/C path).
    const buggy = new ReferenceModel({ ...good.config, dtBCNorm: false }, good.weights);
    const bad = await traceForward(buggy, IDS);
    const withFakeNormed: TraceTensor[] = [];
    for (const t of bad) {
      withFakeNormed.push(t);
      const m = /^(layers\.\d+\.mixer\.x_proj\.)C$/.exec(t.name);
      if (m) for (const p of ['dt', 'B', 'C']) withFakeNormed.push({ ...bad.find((x) => x.name === m[1] + p)!, name: `${m[1]}${p}_normed` });
    }
    const r = compareTraces(withFakeNormed, goodTrace, { strict: true });
    expect(r.first?.name).toBe('layers.0.mixer.x_proj.dt_normed');
    expect(r.first?.status).toBe('diverged');
  });

  it('a perturbed conv bias in layer 1 → layers.1.mixer.conv1d.pre_silu (layer 0 and the conv state untouched)', async () => {
    const buggy = withLayer(good, 1, (w) => ({ convBias: shifted(w.convBias!, 5, 0.05) }));
    const r = compareTraces(await traceForward(buggy, IDS), goodTrace);
    expect(r.first?.name).toBe('layers.1.mixer.conv1d.pre_silu');
    expect(r.rows.find((x) => x.name === 'layers.1.mixer.conv_state')?.ok).toBe(true);
    expect(r.first?.worst?.index! % good.config.dInner).toBe(5);
  });

  it('a wrong D skip in layer 2 → layers.2.mixer.scan.y_D', async () => {
    const buggy = withLayer(good, 2, (w) => ({ D: shifted(w.D, 0, 0.1) }));
    const r = compareTraces(await traceForward(buggy, IDS), goodTrace);
    expect(r.first?.name).toBe('layers.2.mixer.scan.y_D');
  });

  it('A = +exp(A_log) in layer 0 (sign lost) → layers.0.mixer.A', async () => {
    const buggy = withLayer(good, 0, (w) => ({ A: w.A.map((a) => -a) }));
    const r = compareTraces(await traceForward(buggy, IDS), goodTrace);
    expect(r.first?.name).toBe('layers.0.mixer.A');
  });

  it.runIf(existsSync(HF_TRACE))('against the transformers trace: clean for the good model, the same first divergence for the bug', async () => {
    const hf = await readTrace(HF_TRACE);
    expect(hf.ids).toEqual(IDS);
    const ref = fromHfTrace(hf.tensors, good.config.dConv);
    const clean = compareTraces(goodTrace, ref, { strict: true });
    expect(clean.first, clean.first?.name).toBeNull();
    const buggy = new ReferenceModel({ ...good.config, dtBCNorm: false }, good.weights);
    expect(compareTraces(await traceForward(buggy, IDS), ref).first?.name).toBe('layers.0.mixer.dt_proj.out');
  });
});
