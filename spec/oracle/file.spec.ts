/**
 * Trace files: what writeTrace writes is a standard safetensors file (our own header parser reads it: names,
 * shapes, offsets, metadata) and readTrace gives back the same tensors, in forward order.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensorsHeader } from '../../src/io/safetensors.ts';
import { loadModel } from '../../src/load.ts';
import { encodeTrace, readTrace, traceForward, writeTrace, TRACE_FORMAT } from '../../src/oracle/index.ts';
import { TINY, writeTinyModel } from '../helpers/tiny-model.ts';

const IDS = [1, 2, 3, 4];

describe('trace files', () => {
  it('round-trip: names, order, shapes, values and metadata', async () => {
    const dir = writeTinyModel(TINY, 3);
    const m = await loadModel(dir, { backend: 'reference' });
    const trace = await traceForward(m, IDS);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    const file = join(mkdtempSync(join(tmpdir(), 'fm-trace-')), 't.safetensors');
    await writeTrace(file, trace, { ids: IDS, config, backend: 'reference', extra: { note: 'spec' } });

    const header = await readSafetensorsHeader(file);
    expect([...header.tensors.keys()]).toEqual(trace.map((t) => t.name));
    for (const t of trace) {
      const info = header.tensors.get(t.name)!;
      expect(info.dtype).toBe('F32');
      expect(info.shape).toEqual(t.shape);
      expect(info.end - info.start).toBe(4 * t.data.length);
    }
    // data laid out in forward order, 8-byte aligned start as the Python writer does
    const starts = trace.map((t) => header.tensors.get(t.name)!.start);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(header.dataStart % 8).toBe(0);
    expect(header.metadata).toMatchObject({ format: TRACE_FORMAT, backend: 'reference', note: 'spec' });
    expect(JSON.parse(header.metadata.ids)).toEqual(IDS);
    expect(JSON.parse(header.metadata.config)).toEqual(config);

    const back = await readTrace(file);
    expect(back.ids).toEqual(IDS);
    expect(back.config).toEqual(config);
    expect(back.tensors.map((t) => t.name)).toEqual(trace.map((t) => t.name));
    back.tensors.forEach((t, i) => {
      expect(t.shape).toEqual(trace[i].shape);
      expect(t.data).toEqual(trace[i].data);
    });
  });

  it('refuses a repeated name or a shape that does not fit the data', () => {
    const t = { name: 'a', shape: [2], data: new Float32Array(2) };
    expect(() => encodeTrace([t, t], { ids: [], config: null })).toThrow(/appears twice/);
    expect(() => encodeTrace([{ ...t, shape: [3] }], { ids: [], config: null })).toThrow(/shape/);
  });
});
