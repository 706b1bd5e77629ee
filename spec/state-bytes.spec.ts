// The saved-state format pinned by bytes: fixtures/state/falcon-odd.fmstate (fixtures/make_state.ts) is the
// state falcon-odd is left in after the 10 ids of its HF trace. Round trips (spec/state.spec.ts) pass whatever
// the layout; these fail when the layout changes, so a change without a version bump (and a new fixture) is
// caught. The file is read here by the table in src/state.ts's header, not by src/state.ts, and its values are
// checked against HF's own states from fixtures/goldens/falcon-odd.trace.safetensors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/load.ts';
import type { Model, ModelState } from '../src/model.ts';
import { readTrace, type Trace } from '../src/oracle/index.ts';
import { configFingerprint, decodeState, saveState, STATE_FORMAT_VERSION } from '../src/state.ts';
import { expectClose } from './helpers/close.ts';
import { REPO } from './helpers/goldens.ts';

const FILE = join(REPO, 'fixtures', 'state', 'falcon-odd.fmstate');
const REGENERATE = 'after a deliberate format change: bump STATE_FORMAT_VERSION, then `npx tsx fixtures/make_state.ts`';

/** The file parsed by the documented table (offsets and types), independently of src/state.ts. */
function parse(bytes: Uint8Array) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (at: number) => v.getUint32(at, true);
  const h = {
    magic: new TextDecoder().decode(bytes.subarray(0, 8)),
    version: u32(8),
    nLayer: u32(12),
    dInner: u32(16),
    dConv: u32(20),
    dState: u32(24),
    fingerprint: u32(28),
    position: v.getFloat64(32, true),
    metaBytes: u32(40),
    reserved: u32(44),
  };
  const C = h.nLayer * h.dInner * (h.dConv - 1);
  const S = h.nLayer * h.dInner * h.dState;
  const f32 = (at: number, n: number) => Float32Array.from({ length: n }, (_, i) => v.getFloat32(at + 4 * i, true));
  const conv = f32(48, C);
  const ssm = f32(48 + 4 * C, S);
  const meta = bytes.subarray(48 + 4 * (C + S));
  return { h, C, S, state: { conv, ssm, position: h.position } as ModelState, meta };
}

describe('the state format, pinned by fixtures/state/falcon-odd.fmstate', () => {
  let bytes: Uint8Array;
  let model: Model;
  let trace: Trace;
  beforeAll(async () => {
    bytes = new Uint8Array(readFileSync(FILE));
    model = await loadModel(join(REPO, 'fixtures', 'models', 'falcon-odd'), { backend: 'reference' });
    trace = await readTrace(join(REPO, 'fixtures', 'goldens', 'falcon-odd.trace.safetensors'));
  });

  it('the header holds the documented fields at the documented offsets', () => {
    const { h, C, S, meta } = parse(bytes);
    const c = model.config;
    expect(h.version, `the fixture is format ${h.version}, the code writes ${STATE_FORMAT_VERSION}; ${REGENERATE}`).toBe(STATE_FORMAT_VERSION);
    expect(h).toEqual({
      magic: 'FMSTATE\0', version: 1, nLayer: c.nLayer, dInner: c.dInner, dConv: c.dConv, dState: c.dState,
      fingerprint: configFingerprint(c), position: trace.ids!.length, metaBytes: meta.length, reserved: 0,
    });
    expect([h.nLayer, h.dInner, h.dConv, h.dState]).toEqual([3, 75, 3, 7]);
    expect(bytes.length).toBe(48 + 4 * (C + S) + h.metaBytes);
    expect(JSON.parse(new TextDecoder().decode(meta))).toEqual({ ids: trace.ids });
  });

  it('saveState of the values read from the file writes the file byte for byte', () => {
    const { state, meta } = parse(bytes);
    const again = saveState(model.config, state, JSON.parse(new TextDecoder().decode(meta)));
    expect(again.length, REGENERATE).toBe(bytes.length);
    const first = again.findIndex((b, i) => b !== bytes[i]);
    expect(first, `saveState differs from the pinned bytes first at byte ${first}; ${REGENERATE}`).toBe(-1);
  });

  it('decodeState reads the values from the documented offsets', () => {
    const { state, meta } = parse(bytes);
    const d = decodeState(model.config, bytes);
    expect(d.state.position).toBe(state.position);
    expect(Buffer.from(d.state.conv.buffer, d.state.conv.byteOffset, d.state.conv.byteLength).equals(Buffer.from(state.conv.buffer))).toBe(true);
    expect(Buffer.from(d.state.ssm.buffer, d.state.ssm.byteOffset, d.state.ssm.byteLength).equals(Buffer.from(state.ssm.buffer))).toBe(true);
    expect(d.metadata).toEqual(JSON.parse(new TextDecoder().decode(meta)));
  });

  it("the stored values are HF's states after the same ids (conv: HF's last K−1 of K columns)", () => {
    const { state } = parse(bytes);
    const { nLayer, dInner: E, dConv: K, dState: N } = model.config;
    const hf = (name: string) => trace.tensors.find((t) => t.name === name)!.data;
    for (let i = 0; i < nLayer; i++) {
      const hfConv = hf(`layers.${i}.state.conv`); // (E, K), oldest first
      const want = new Float32Array(E * (K - 1));
      for (let c = 0; c < E; c++) for (let k = 1; k < K; k++) want[c * (K - 1) + k - 1] = hfConv[c * K + k];
      // The rule of the hf-trace spec (src/oracle/compare.ts): |diff| ≤ 1e-6 + 1e-4·max(|ref|, rms(ref)), the
      // tensor's rms standing in for small elements (the f32 sums of HF's matrix products, and 10 scan steps).
      const rule = (ref: Float32Array) => ({ atol: 1e-6 + 1e-4 * Math.sqrt(ref.reduce((a, x) => a + x * x, 0) / ref.length), rtol: 1e-4 });
      expectClose(state.conv.subarray(i * E * (K - 1), (i + 1) * E * (K - 1)), want, rule(want), `layer ${i} conv state`);
      const ssm = hf(`layers.${i}.state.ssm`);
      expectClose(state.ssm.subarray(i * E * N, (i + 1) * E * N), ssm, rule(ssm), `layer ${i} ssm state`);
    }
  });

  it('the reference backend, prefilling the same ids, writes the pinned bytes', async () => {
    const st = model.createState();
    await model.prefill(st, trace.ids!);
    const again = saveState(model.config, st, { ids: trace.ids });
    const first = again.findIndex((b, i) => b !== bytes[i]);
    expect(first, `the reference's state differs from the pinned bytes first at byte ${first} (a change of layout or of the reference's arithmetic); ${REGENERATE}`).toBe(-1);
    expect(again.length).toBe(bytes.length);
  });
});
