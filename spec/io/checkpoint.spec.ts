// Loader bad-input specs: every broken folder gets a CheckpointError/ConfigError naming the
// file and tensor or field — never a crash, a hang or a huge allocation.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint, CheckpointError, ConfigError, loadModel } from '../../src/index.ts';
import { encodeSafetensors, readSafetensorsHeader } from '../../src/io/safetensors.ts';
import { randomTensors, TINY, writeTinyModel } from '../helpers/tiny-model.ts';

const made: string[] = [];
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
function model(): string {
  const d = writeTinyModel();
  made.push(d);
  return d;
}
/** Writes a safetensors file whose header is `header` (object or raw text) followed by `dataBytes` zeros. */
function writeRaw(dir: string, header: unknown, dataBytes: number, declaredLen?: bigint): void {
  const json = typeof header === 'string' ? header : JSON.stringify(header);
  const hb = new TextEncoder().encode(json);
  const buf = new Uint8Array(8 + hb.length + dataBytes);
  new DataView(buf.buffer).setBigUint64(0, declaredLen ?? BigInt(hb.length), true);
  buf.set(hb, 8);
  writeFileSync(join(dir, 'model.safetensors'), buf);
}
async function rejects(dir: string, cls: typeof CheckpointError | typeof ConfigError, ...parts: (string | RegExp)[]) {
  const err = await Checkpoint.open(dir).then(
    () => null,
    (e) => e,
  );
  expect(err, 'expected an error').toBeInstanceOf(cls);
  for (const p of parts) expect(err.message).toMatch(p);
  expect(err.message.includes('\n')).toBe(false); // one line
}

describe('Checkpoint.open on a valid folder', () => {
  it('finds every tensor with its shape and reads it back exactly', async () => {
    const d = model();
    const ck = await Checkpoint.open(d);
    expect(ck.config.dModel).toBe(TINY.hidden_size);
    const want = randomTensors(TINY, 1);
    expect(ck.tensors.size).toBe(want.size);
    const got = await ck.readF32('backbone.layers.1.mixer.x_proj.weight');
    expect(Array.from(got)).toEqual(Array.from(want.get('backbone.layers.1.mixer.x_proj.weight')!.data as Float32Array));
  });

  it('accepts a sharded folder and rejects an index that points at a missing or foreign tensor', async () => {
    const d = mkdtempSync(join(tmpdir(), 'fm-shard-'));
    made.push(d);
    writeFileSync(join(d, 'config.json'), JSON.stringify(TINY));
    const all = [...randomTensors(TINY, 2)];
    const a = new Map(all.slice(0, 7));
    const b = new Map(all.slice(7));
    writeFileSync(join(d, 'model-00001-of-00002.safetensors'), encodeSafetensors(a));
    writeFileSync(join(d, 'model-00002-of-00002.safetensors'), encodeSafetensors(b));
    const weightMap: Record<string, string> = {};
    for (const k of a.keys()) weightMap[k] = 'model-00001-of-00002.safetensors';
    for (const k of b.keys()) weightMap[k] = 'model-00002-of-00002.safetensors';
    const index = (wm: Record<string, string>) =>
      writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: wm }));
    index(weightMap);
    const ck = await Checkpoint.open(d);
    expect(ck.tensors.size).toBe(all.length);
    expect(ck.info('backbone.norm_f.weight').file).toContain('00002');

    const first = [...a.keys()][0];
    index({ ...weightMap, [first]: 'model-00002-of-00002.safetensors' });
    await rejects(d, CheckpointError, 'model-00002-of-00002.safetensors', first, /index but not in this shard/);
    index({ ...weightMap, [first]: '../../etc/passwd.safetensors' });
    await rejects(d, CheckpointError, 'model.safetensors.index.json', /invalid shard name/);
    const { [first]: _gone, ...rest } = weightMap;
    index(rest);
    await rejects(d, CheckpointError, 'model-00001-of-00002.safetensors', first, /not in the index/);
    writeFileSync(join(d, 'model.safetensors.index.json'), '{"weight_map": 3}');
    await rejects(d, CheckpointError, /weight_map/);
  });
});

describe('Checkpoint.open on broken files', () => {
  it('truncated file (shorter than the 8-byte length)', async () => {
    const d = model();
    writeFileSync(join(d, 'model.safetensors'), new Uint8Array(5));
    await rejects(d, CheckpointError, 'model.safetensors', /truncated/);
  });

  it('header length past the end of the file', async () => {
    const d = model();
    writeRaw(d, {}, 0, 1000n);
    await rejects(d, CheckpointError, 'model.safetensors', /header length 1000 runs past the end/);
  });

  it('hostile header length (2^63) is refused without allocating', async () => {
    const d = model();
    writeRaw(d, {}, 0, 1n << 63n);
    await rejects(d, CheckpointError, /exceeds/);
  });

  it('header that is not JSON, or not an object', async () => {
    const d = model();
    writeRaw(d, '{"a": ', 0);
    await rejects(d, CheckpointError, /not valid JSON/);
    writeRaw(d, '[1,2]', 0);
    await rejects(d, CheckpointError, /not a JSON object/);
  });

  it('data truncated after the header (offsets out of range)', async () => {
    const d = model();
    const f = join(d, 'model.safetensors');
    const full = readFileSync(f);
    writeFileSync(f, full.subarray(0, full.length - 10));
    await rejects(d, CheckpointError, 'model.safetensors', /run past the end of the file/);
  });

  it('overlapping tensors', async () => {
    const d = model();
    writeRaw(d, { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, 24);
    await rejects(d, CheckpointError, /"a" and "b" overlap/);
  });

  it('shape × dtype disagreeing with the byte length, and bad shapes/offsets', async () => {
    const d = model();
    writeRaw(d, { w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, 16);
    await rejects(d, CheckpointError, /"w"/, /12 bytes but data_offsets span 16/);
    writeRaw(d, { w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4);
    await rejects(d, CheckpointError, /"w"/, /shape/);
    writeRaw(d, { w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, 8);
    await rejects(d, CheckpointError, /"w"/, /data_offsets/);
  });

  it('unsupported dtype', async () => {
    const d = model();
    writeRaw(d, { w: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8);
    await rejects(d, CheckpointError, /"w"/, /dtype "I64" is not supported/);
  });

  it('wrong shape, missing tensor, unexpected tensor', async () => {
    const d = model();
    const t = randomTensors(TINY, 1);
    const name = 'backbone.layers.0.mixer.A_log';
    t.set(name, { shape: [TINY.intermediate_size, TINY.state_size + 1], data: new Float32Array(TINY.intermediate_size * (TINY.state_size + 1)) });
    writeFileSync(join(d, 'model.safetensors'), encodeSafetensors(t));
    await rejects(d, CheckpointError, name, /has shape \[22,6\], expected \[22,5\]/);
    t.delete(name);
    writeFileSync(join(d, 'model.safetensors'), encodeSafetensors(t));
    await rejects(d, CheckpointError, name, /missing/);
    const u = randomTensors(TINY, 1);
    u.set('backbone.layers.2.norm.weight', { shape: [12], data: new Float32Array(12) });
    writeFileSync(join(d, 'model.safetensors'), encodeSafetensors(u));
    await rejects(d, CheckpointError, /unexpected tensor "backbone.layers.2.norm.weight"/);
  });

  it('no weights at all, and a path that is not a folder', async () => {
    const d = mkdtempSync(join(tmpdir(), 'fm-empty-'));
    made.push(d);
    writeFileSync(join(d, 'config.json'), JSON.stringify(TINY));
    await rejects(d, CheckpointError, /no model.safetensors/);
    await expect(loadModel(join(d, 'nope'))).rejects.toThrow(/not a model folder/);
  });
});

describe('config.json errors surface through loadModel', () => {
  it('unknown model_type, non-JSON config, invalid field', async () => {
    const d = model();
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...TINY, model_type: 'llama' }));
    await rejects(d, ConfigError, 'config.json', /model_type "llama" is not supported/);
    writeFileSync(join(d, 'config.json'), '{ not json');
    await rejects(d, ConfigError, 'config.json', /not valid JSON/);
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...TINY, hidden_size: 'big' }));
    await rejects(d, ConfigError, /"hidden_size" must be a positive integer/);
    writeFileSync(join(d, 'config.json'), JSON.stringify({ ...TINY, num_hidden_layers: undefined }));
    await rejects(d, ConfigError, /missing required field "num_hidden_layers"/);
  });
});

describe('readSafetensorsHeader', () => {
  it('reads metadata and computes absolute offsets', async () => {
    const d = mkdtempSync(join(tmpdir(), 'fm-st-'));
    made.push(d);
    const f = join(d, 'x.safetensors');
    writeFileSync(f, encodeSafetensors({ a: { shape: [2], data: new Float32Array([1, 2]) } }, { ids: '[1,2]' }));
    const h = await readSafetensorsHeader(f);
    expect(h.metadata.ids).toBe('[1,2]');
    expect(h.dataStart % 8).toBe(0);
    expect(h.tensors.get('a')!.end).toBe(statSync(f).size);
  });
});
