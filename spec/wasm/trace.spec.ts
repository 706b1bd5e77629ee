// The wasm engine's trace: every intermediate it holds agrees with the reference's trace under the
// oracle's default rule, so `compare` can locate a kernel bug; a planted kernel-side bug (a perturbed conv bias
// in layer 1, written straight into wasm memory) is named by compare at the first tensor it touches.
import { describe, expect, it } from 'vitest';
import { compareTraces, loadModel, traceForward, type Model } from '../../src/index.ts';
import type { WasmModel } from '../../src/wasm/model.ts';
import { f32 } from '../../src/wasm/memory.ts';
import { REPO } from '../helpers/goldens.ts';
import { join } from 'node:path';

const DIR = join(REPO, 'fixtures/models/falcon-odd');
const IDS = Array.from({ length: 70 }, (_, t) => (t * 37 + 11) % 512); // 70 > chunkSize: chunks are joined

describe('wasm trace vs reference trace', () => {
  let ref: Model;
  let wasm: Model;
  it('loads both backends', async () => {
    ref = await loadModel(DIR, { backend: 'reference' });
    wasm = await loadModel(DIR, { backend: 'wasm', threads: 1 });
  });

  it('every tensor the engine holds agrees; the rest is reported as missing, not failed', async () => {
    const a = await traceForward(wasm, IDS);
    const b = await traceForward(ref, IDS);
    expect(a.length).toBeGreaterThan(30);
    const cmp = compareTraces(a, b);
    const both = cmp.rows.filter((r) => r.shapeA && r.shapeB);
    expect(both.length).toBe(a.length);
    expect(cmp.first?.name ?? null, JSON.stringify(cmp.first)).toBeNull();
    expect(cmp.ok).toBe(true);
  });

  it('a planted bug in the engine (conv bias of layer 1) is named at layers.1.mixer.conv1d.out', async () => {
    const m = wasm as WasmModel;
    const part = m.parts[0];
    const ptr = part.plan.layers[1].convBias;
    const bias = f32(part.memory, ptr, m.config.dInner);
    const saved = bias.slice();
    bias[3] += 0.5;
    try {
      const cmp = compareTraces(await traceForward(wasm, IDS), await traceForward(ref, IDS));
      expect(cmp.first?.name).toBe('layers.1.mixer.conv1d.out');
    } finally {
      bias.set(saved);
    }
    await wasm.dispose();
  });
});
