/**
 * traceForward on the reference: every name of src/oracle/names.ts in forward order with its shape, values
 * consistent with the fused path (the unfused scan parts recombine bit for bit into the gated output), the
 * final states equal to a plain prefill's, and a trace that changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/load.ts';
import type { Model } from '../../src/model.ts';
import { traceForward, traceNames, TRACE_LAYER_STAGES, type TraceTensor } from '../../src/oracle/index.ts';
import { silu } from '../../src/reference/ops.ts';
import type { ReferenceModel } from '../../src/reference/model.ts';
import { TINY, writeTinyModel } from '../helpers/tiny-model.ts';

const IDS = [3, 17, 42, 0, 9, 31, 5];

async function tiny(shape = TINY, seed = 7): Promise<ReferenceModel> {
  return (await loadModel(writeTinyModel(shape, seed), { backend: 'reference' })) as ReferenceModel;
}

function get(trace: TraceTensor[], name: string): TraceTensor {
  const t = trace.find((x) => x.name === name);
  if (!t) throw new Error(`trace lacks ${name}`);
  return t;
}

describe('traceForward (reference)', () => {
  it('emits every documented name in forward order with glossary shapes (FalconMamba)', async () => {
    const m = await tiny();
    const c = m.config;
    const trace = await traceForward(m, IDS);
    expect(trace.map((t) => t.name)).toEqual(traceNames(c.nLayer, true));
    const L = IDS.length;
    const { dModel: D, dInner: E, dState: N, dConv: K, dtRank: R, vocabSize: V } = c;
    const expected: Record<string, number[]> = {
      input: [L, D], norm: [L, D], 'mixer.in_proj.x': [L, E], 'mixer.in_proj.z': [L, E],
      'mixer.conv1d.pre_silu': [L, E], 'mixer.conv1d.out': [L, E], 'mixer.conv_state': [E, K - 1],
      'mixer.x_proj.out': [L, R + 2 * N], 'mixer.x_proj.dt': [L, R], 'mixer.x_proj.B': [L, N], 'mixer.x_proj.C': [L, N],
      'mixer.x_proj.dt_normed': [L, R], 'mixer.x_proj.B_normed': [L, N], 'mixer.x_proj.C_normed': [L, N],
      'mixer.dt_proj.out': [L, E], 'mixer.dt': [L, E], 'mixer.A': [E, N], 'mixer.scan.y': [L, E],
      'mixer.ssm_state': [E, N], 'mixer.scan.y_D': [L, E], 'mixer.gated': [L, E], 'mixer.out_proj.out': [L, D], output: [L, D],
    };
    expect(Object.keys(expected).sort()).toEqual(TRACE_LAYER_STAGES.map((s) => s.name).sort());
    for (let i = 0; i < c.nLayer; i++) {
      for (const [stage, shape] of Object.entries(expected)) expect(get(trace, `layers.${i}.${stage}`).shape, stage).toEqual(shape);
    }
    expect(get(trace, 'embeddings').shape).toEqual([L, D]);
    expect(get(trace, 'norm_f').shape).toEqual([L, D]);
    expect(get(trace, 'logits').shape).toEqual([L, V]);
  });

  it('omits the dt/B/C norm outputs for plain Mamba', async () => {
    const m = await tiny({ ...TINY, model_type: 'mamba' });
    const trace = await traceForward(m, IDS);
    expect(trace.map((t) => t.name)).toEqual(traceNames(m.config.nLayer, false));
    expect(trace.some((t) => t.name.endsWith('_normed'))).toBe(false);
  });

  it('the unfused parts recombine exactly into the fused scan output; splits match x_proj.out', async () => {
    const m = await tiny();
    const trace = await traceForward(m, IDS);
    const { dInner: E, dState: N, dtRank: R } = m.config;
    const f = Math.fround;
    for (let i = 0; i < m.config.nLayer; i++) {
      const p = `layers.${i}.mixer.`;
      const x = get(trace, p + 'conv1d.out').data;
      const z = get(trace, p + 'in_proj.z').data;
      const y = get(trace, p + 'scan.y').data;
      const yD = get(trace, p + 'scan.y_D').data;
      const gated = get(trace, p + 'gated').data;
      const D = m.weights.layers[i].D;
      for (let j = 0; j < gated.length; j++) {
        expect(yD[j]).toBe(f(y[j] + f(x[j] * D[j % E])));
        expect(gated[j]).toBe(f(yD[j] * silu(z[j])));
      }
      // conv1d.out = silu(pre_silu); dt = softplus(dt_proj.out) > 0
      const pre = get(trace, p + 'conv1d.pre_silu').data;
      for (let j = 0; j < x.length; j++) expect(x[j]).toBe(silu(pre[j]));
      for (const v of get(trace, p + 'dt').data) expect(v).toBeGreaterThan(0);
      // x_proj.out = [dt | B | C]
      const xp = get(trace, p + 'x_proj.out').data;
      const W = R + 2 * N;
      const parts = { dt: [0, R], B: [R, N], C: [R + N, N] } as const;
      for (const [name, [at, n]] of Object.entries(parts)) {
        const part = get(trace, p + 'x_proj.' + name).data;
        for (let t = 0; t < IDS.length; t++) for (let k = 0; k < n; k++) expect(part[t * n + k]).toBe(xp[t * W + at + k]);
      }
      expect(get(trace, p + 'A').data).toEqual(m.weights.layers[i].A);
    }
  });

  it('changes nothing: logits and final states equal an untraced forward / prefill', async () => {
    const m = await tiny();
    const trace = await traceForward(m, IDS);
    expect(get(trace, 'logits').data).toEqual(await m.forward(IDS));
    const state = m.createState();
    await m.prefill(state, IDS);
    const { dInner: E, dState: N, dConv: K } = m.config;
    for (let i = 0; i < m.config.nLayer; i++) {
      expect(get(trace, `layers.${i}.mixer.conv_state`).data).toEqual(state.conv.subarray(i * E * (K - 1), (i + 1) * E * (K - 1)));
      expect(get(trace, `layers.${i}.mixer.ssm_state`).data).toEqual(state.ssm.subarray(i * E * N, (i + 1) * E * N));
    }
  });

  it('a one-token trace (the step path) has the same names', async () => {
    const m = await tiny();
    const trace = await traceForward(m, [11]);
    expect(trace.map((t) => t.name)).toEqual(traceNames(m.config.nLayer, true));
    expect(get(trace, 'logits').data).toEqual(await m.forward([11]));
  });

  it('copies the hook views: tensors are independent buffers', async () => {
    const m = await tiny();
    const trace = await traceForward(m, IDS);
    const input0 = get(trace, 'layers.0.input').data;
    const out0 = get(trace, 'layers.0.output').data;
    expect(input0).toEqual(get(trace, 'embeddings').data); // h is updated in place by the block, but the copy is not
    expect(input0).not.toEqual(out0);
  });

  it('says clearly when a backend cannot trace', async () => {
    const m = await tiny();
    const noTrace: Model = {
      config: m.config, backend: 'wasm', forward: async () => new Float32Array(0), createState: () => m.createState(),
      prefill: async () => new Float32Array(0), step: async () => new Float32Array(0), stepBatch: async () => new Float32Array(0), saveState: () => new Uint8Array(0),
      loadState: () => m.createState(), dispose: () => {},
    };
    await expect(traceForward(noTrace, IDS)).rejects.toThrow(/wasm backend cannot trace/);
  });
});
