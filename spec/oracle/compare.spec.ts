/**
 * compareTraces: the tolerance rule, forward ordering whatever the input order, missing tensors, shape
 * mismatches, NaN; and the HF-trace name mapping.
 */
import { describe, expect, it } from 'vitest';
import { compareTraces, firstDivergence, fromHfTrace, isHfTrace, sortForward, traceNames, type TraceTensor } from '../../src/oracle/index.ts';

const t = (name: string, values: number[], shape = [values.length]): TraceTensor => ({ name, shape, data: Float32Array.from(values) });

describe('compareTraces', () => {
  it('passes equal traces and reports zero error', () => {
    const a = [t('embeddings', [1, 2]), t('logits', [3, 4])];
    const r = compareTraces(a, a);
    expect(r.ok).toBe(true);
    expect(r.first).toBeNull();
    expect(r.compared).toBe(2);
    expect(r.rows.map((x) => [x.name, x.maxAbs, x.status])).toEqual([['embeddings', 0, 'ok'], ['logits', 0, 'ok']]);
  });

  it('reports in forward order, whatever order the files hold (Python writes names sorted)', () => {
    const names = traceNames(2, true);
    const shuffled = [...names].sort(); // alphabetical, like safetensors' Python writer
    expect(sortForward(shuffled)).toEqual(names);
    const a = shuffled.map((n) => t(n, [1]));
    const bad = new Set(['layers.1.mixer.in_proj.x', 'layers.1.norm']); // alphabetically in_proj first, in forward order norm
    const b = shuffled.map((n) => t(n, [bad.has(n) ? 2 : 1]));
    const r = compareTraces(a, b);
    expect(r.rows.map((x) => x.name)).toEqual(names);
    expect(r.first?.name).toBe('layers.1.norm');
    expect(r.rows.filter((x) => !x.ok).map((x) => x.name)).toEqual(['layers.1.norm', 'layers.1.mixer.in_proj.x']);
  });

  it('applies |a-b| <= atol + rtol*max(|b|, rms(b))', () => {
    const b = t('embeddings', [100, 0, 0, 0]); // rms 50
    expect(compareTraces([t('embeddings', [100.009, 0.004, 0, 0])], [b], { atol: 0, rtol: 1e-4 }).ok).toBe(true);
    const r = compareTraces([t('embeddings', [100, 0.006, 0, 0])], [b], { atol: 0, rtol: 1e-4 });
    expect(r.ok).toBe(false);
    expect(r.first?.worst).toEqual({ index: 1, a: Math.fround(0.006), b: 0 });
    expect(r.first?.bad).toBe(1);
    expect(r.first?.maxAbs).toBeCloseTo(0.006, 6);
    expect(r.first?.maxRel).toBeCloseTo(0.006 / 50, 8);
    expect(compareTraces([t('embeddings', [100, 0.006, 0, 0])], [b], { atol: 0.01, rtol: 0 }).ok).toBe(true);
  });

  it('NaN equals NaN; a NaN against a number diverges', () => {
    expect(compareTraces([t('logits', [NaN, 1])], [t('logits', [NaN, 1])]).ok).toBe(true);
    const r = compareTraces([t('logits', [NaN, 1])], [t('logits', [0, 1])]);
    expect(r.ok).toBe(false);
    expect(r.first?.maxAbs).toBe(Infinity);
  });

  it('a shape mismatch diverges; a tensor in one trace only is listed, and fails only when strict', () => {
    const a = [t('embeddings', [1, 2], [1, 2]), t('layers.0.input', [1])];
    const b = [t('embeddings', [1, 2], [2, 1]), t('layers.0.norm', [1])];
    const r = compareTraces(a, b);
    expect(r.rows.map((x) => [x.name, x.status, x.ok])).toEqual([
      ['embeddings', 'shape', false],
      ['layers.0.input', 'only-a', true],
      ['layers.0.norm', 'only-b', true],
    ]);
    expect(firstDivergence(r.rows)?.name).toBe('embeddings');
    const subset = compareTraces([t('layers.0.input', [1])], [t('embeddings', [1]), t('layers.0.input', [1])]);
    expect(subset.ok).toBe(true);
    const strict = compareTraces([t('layers.0.input', [1])], [t('embeddings', [1]), t('layers.0.input', [1])], { strict: true });
    expect(strict.first?.name).toBe('embeddings');
    expect(strict.first?.status).toBe('only-b');
  });

  it('unknown names come after the known ones, in their order', () => {
    expect(sortForward(['zz.extra', 'logits', 'aa.extra', 'embeddings', 'layers.10.input', 'layers.2.output'])).toEqual([
      'embeddings', 'layers.2.output', 'layers.10.input', 'logits', 'zz.extra', 'aa.extra',
    ]);
  });
});

describe('fromHfTrace', () => {
  it('maps state.conv (E, K) to mixer.conv_state (E, K-1), state.ssm to mixer.ssm_state, rebuilds x_proj.out', () => {
    const hf = [
      t('layers.0.mixer.x_proj.B', [3, 4], [1, 2]),
      t('layers.0.mixer.x_proj.C', [5, 6], [1, 2]),
      t('layers.0.mixer.x_proj.dt', [1, 2], [1, 2]),
      t('layers.0.state.conv', [1, 2, 3, 4, 5, 6], [2, 3]),
      t('layers.0.state.ssm', [7, 8], [1, 2]),
    ];
    expect(isHfTrace(hf)).toBe(true);
    expect(isHfTrace([t('embeddings', [1])], { transformers: '5.17.0' })).toBe(true);
    expect(isHfTrace([t('layers.0.mixer.conv_state', [1])])).toBe(false);
    const ours = new Map(fromHfTrace(hf, 3).map((x) => [x.name, x]));
    expect(ours.get('layers.0.mixer.conv_state')).toEqual(t('layers.0.mixer.conv_state', [2, 3, 5, 6], [2, 2]));
    expect(ours.get('layers.0.mixer.ssm_state')?.data).toEqual(Float32Array.from([7, 8]));
    expect(ours.get('layers.0.mixer.x_proj.out')).toEqual(t('layers.0.mixer.x_proj.out', [1, 2, 3, 4, 5, 6], [1, 6]));
    expect(ours.has('layers.0.state.conv')).toBe(false);
    // a conv state already K−1 wide is kept as it is
    expect(fromHfTrace([t('layers.0.state.conv', [1, 2], [1, 2])], 3)[0].data).toEqual(Float32Array.from([1, 2]));
  });
});
