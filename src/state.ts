/**
 * A sequence's recurrent state as bytes: save it, load it later (or in another process), continue exactly.
 *
 * Because a Mamba state has a fixed size whatever the sequence length, this is the whole "KV cache" of a
 * conversation: for FalconMamba-7B, (64·8192·3 + 64·8192·16) f32 = 38 MiB, for 10 tokens or 100,000.
 *
 * Format (version 1), all little-endian:
 *
 * | offset | size | field                                                                    |
 * |--------|------|--------------------------------------------------------------------------|
 * | 0      | 8    | magic `"FMSTATE\0"`                                                      |
 * | 8      | 4    | u32 format version (1)                                                   |
 * | 12     | 4    | u32 nLayer                                                               |
 * | 16     | 4    | u32 dInner                                                               |
 * | 20     | 4    | u32 dConv                                                                |
 * | 24     | 4    | u32 dState                                                               |
 * | 28     | 4    | u32 config fingerprint (FNV-1a of the model's shape, {@link configFingerprint}) |
 * | 32     | 8    | f64 position (tokens fed so far)                                         |
 * | 40     | 4    | u32 byte length of the metadata (UTF-8 JSON, 0 = none)                   |
 * | 44     | 4    | u32 reserved (0)                                                         |
 * | 48     | 4·C  | f32 conv state (nLayer, dInner, dConv−1), C = nLayer·dInner·(dConv−1)    |
 * | …      | 4·S  | f32 SSM state (nLayer, dInner, dState), S = nLayer·dInner·dState         |
 * | …      | M    | metadata                                                                 |
 *
 * The fingerprint covers every size of the config (not the weights: two checkpoints of the same shape share
 * it, so a state from a fine-tune of the same base loads — by design, as its shape fits — but means little).
 */
import type { ModelConfig } from './config.ts';
import { InputError } from './errors.ts';
import { stateFloats, type ModelState } from './model.ts';

/** The 8 magic bytes that open a saved state. */
export const STATE_MAGIC = 'FMSTATE\0';
/** The format version written by {@link saveState}; older or newer versions are refused with a clear error. */
export const STATE_FORMAT_VERSION = 1;
const HEADER_BYTES = 48;

/**
 * A 32-bit FNV-1a hash of the model's shape (`modelType`, `dModel`, `dInner`, `dState`, `dConv`, `dtRank`,
 * `nLayer`, `vocabSize`): two configs share it exactly when a state of one fits the other.
 */
export function configFingerprint(c: ModelConfig): number {
  const text = [c.modelType, c.dModel, c.dInner, c.dState, c.dConv, c.dtRank, c.nLayer, c.vocabSize].join(',');
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The largest metadata a saved state may carry: 64 MiB (a chat of 100,000 tokens stores ~1 MB of ids and text).
 * With {@link stateBytes} it bounds a state file, so a reader can refuse a larger file before reading it.
 */
export const MAX_STATE_METADATA_BYTES = 64 << 20;

/** The largest file {@link decodeState} accepts for this config: the state and at most {@link MAX_STATE_METADATA_BYTES} of metadata. */
export function maxStateFileBytes(c: ModelConfig): number {
  return stateBytes(c) + MAX_STATE_METADATA_BYTES;
}

/** Bytes that {@link saveState} writes for one state of this config (without metadata). */
export function stateBytes(c: ModelConfig): number {
  const n = stateFloats(c);
  return HEADER_BYTES + 4 * (n.conv + n.ssm);
}

/** A deep copy of a state (e.g. a cached system-prompt state reused by many requests). */
export function cloneState(state: ModelState): ModelState {
  return { conv: Float32Array.from(state.conv), ssm: Float32Array.from(state.ssm), position: state.position };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function writeF32(view: DataView, bytes: Uint8Array, at: number, data: Float32Array): void {
  if (LITTLE_ENDIAN) bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
  else for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i], true);
}

function readF32(view: DataView, bytes: Uint8Array, at: number, n: number): Float32Array {
  const out = new Float32Array(n);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes.subarray(at, at + 4 * n));
  else for (let i = 0; i < n; i++) out[i] = view.getFloat32(at + 4 * i, true);
  return out;
}

/**
 * Serializes a state (format above).
 * @param config the model's config (its shape goes into the header)
 * @param state a state of that model
 * @param metadata optional JSON-serializable data stored beside the state (a chat history, a prompt's ids)
 * @throws InputError when the state does not fit the config
 */
export function saveState(config: ModelConfig, state: ModelState, metadata?: unknown): Uint8Array {
  const n = stateFloats(config);
  if (state?.conv?.length !== n.conv || state?.ssm?.length !== n.ssm) {
    throw new InputError(`saveState: the state does not fit this model (conv ${state?.conv?.length} / ssm ${state?.ssm?.length} floats, expected ${n.conv} / ${n.ssm})`);
  }
  const meta = metadata === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(metadata));
  if (meta.length > MAX_STATE_METADATA_BYTES) throw new InputError(`saveState: ${meta.length} bytes of metadata is over the ${MAX_STATE_METADATA_BYTES}-byte limit`);
  const total = HEADER_BYTES + 4 * (n.conv + n.ssm) + meta.length;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 8; i++) bytes[i] = STATE_MAGIC.charCodeAt(i);
  view.setUint32(8, STATE_FORMAT_VERSION, true);
  view.setUint32(12, config.nLayer, true);
  view.setUint32(16, config.dInner, true);
  view.setUint32(20, config.dConv, true);
  view.setUint32(24, config.dState, true);
  view.setUint32(28, configFingerprint(config), true);
  view.setFloat64(32, state.position, true);
  view.setUint32(40, meta.length, true);
  view.setUint32(44, 0, true);
  writeF32(view, bytes, HEADER_BYTES, state.conv);
  writeF32(view, bytes, HEADER_BYTES + 4 * n.conv, state.ssm);
  bytes.set(meta, HEADER_BYTES + 4 * (n.conv + n.ssm));
  return bytes;
}

/** A state read back by {@link decodeState}, with the metadata it was saved with. */
export interface DecodedState {
  /** A fresh state holding the saved values. */
  state: ModelState;
  /** The `metadata` given to {@link saveState}, parsed; `undefined` when none was stored. */
  metadata: unknown;
}

/**
 * Reads bytes written by {@link saveState}, checking them against the model that will use them.
 * @throws InputError naming what is wrong: not a state, an unknown format version, truncated or trailing
 *   bytes, a state from a model of another shape
 */
export function decodeState(config: ModelConfig, bytes: Uint8Array): DecodedState {
  if (!(bytes instanceof Uint8Array)) throw new InputError('loadState: expected a Uint8Array');
  if (bytes.length < HEADER_BYTES) {
    throw new InputError(`loadState: ${bytes.length} bytes is too short for a saved state (the header alone is ${HEADER_BYTES} bytes)`);
  }
  for (let i = 0; i < 8; i++) {
    if (bytes[i] !== STATE_MAGIC.charCodeAt(i)) throw new InputError('loadState: not a saved falcon-mamba state (bad magic bytes)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== STATE_FORMAT_VERSION) {
    throw new InputError(`loadState: state format version ${version} is not supported (this library reads version ${STATE_FORMAT_VERSION})`);
  }
  const shape = { nLayer: view.getUint32(12, true), dInner: view.getUint32(16, true), dConv: view.getUint32(20, true), dState: view.getUint32(24, true) };
  const want = { nLayer: config.nLayer, dInner: config.dInner, dConv: config.dConv, dState: config.dState };
  const fmt = (s: typeof want) => `nLayer ${s.nLayer}, dInner ${s.dInner}, dConv ${s.dConv}, dState ${s.dState}`;
  if (shape.nLayer !== want.nLayer || shape.dInner !== want.dInner || shape.dConv !== want.dConv || shape.dState !== want.dState) {
    throw new InputError(`loadState: the state is from another model (${fmt(shape)}; this model has ${fmt(want)})`);
  }
  if (view.getUint32(28, true) !== configFingerprint(config)) {
    throw new InputError(`loadState: the state is from another model (config fingerprint ${view.getUint32(28, true).toString(16)}, this model's is ${configFingerprint(config).toString(16)})`);
  }
  const position = view.getFloat64(32, true);
  if (!Number.isSafeInteger(position) || position < 0) throw new InputError(`loadState: invalid position ${position}`);
  const metaLength = view.getUint32(40, true);
  if (metaLength > MAX_STATE_METADATA_BYTES) throw new InputError(`loadState: ${metaLength} bytes of metadata is over the ${MAX_STATE_METADATA_BYTES}-byte limit`);
  const n = stateFloats(config);
  const expected = HEADER_BYTES + 4 * (n.conv + n.ssm) + metaLength;
  if (bytes.length < expected) throw new InputError(`loadState: truncated state: ${bytes.length} bytes, expected ${expected}`);
  if (bytes.length > expected) throw new InputError(`loadState: ${bytes.length - expected} unexpected bytes after the state (expected ${expected} bytes)`);
  const conv = readF32(view, bytes, HEADER_BYTES, n.conv);
  const ssm = readF32(view, bytes, HEADER_BYTES + 4 * n.conv, n.ssm);
  // A real state is finite (the scan decays it, the conv keeps past inputs); NaN or ±∞ is a damaged file,
  // which would otherwise load silently and turn every later logit into NaN.
  for (const [name, a] of [['conv', conv], ['ssm', ssm]] as const) {
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i])) throw new InputError(`loadState: the ${name} state holds a non-finite value (${a[i]} at index ${i}); the file is damaged`);
    }
  }
  let metadata: unknown;
  if (metaLength > 0) {
    const at = HEADER_BYTES + 4 * (n.conv + n.ssm);
    try {
      metadata = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(at, at + metaLength)));
    } catch (e) {
      throw new InputError(`loadState: the metadata is not valid UTF-8 JSON (${(e as Error).message})`);
    }
  }
  return { state: { conv, ssm, position }, metadata };
}

/**
 * Reads bytes written by {@link saveState} into a fresh state for this model.
 * @throws InputError as {@link decodeState}
 */
export function loadState(config: ModelConfig, bytes: Uint8Array): ModelState {
  return decodeState(config, bytes).state;
}
