/**
 * safetensors: an 8-byte little-endian header length, a JSON header, then raw tensor bytes.
 * Header: `{ "<name>": { "dtype": "BF16", "shape": [..], "data_offsets": [begin, end] }, "__metadata__": {..} }`
 * with offsets relative to the end of the header.
 *
 * The whole header is validated before any tensor data is touched: the length fits the file, the JSON is an
 * object, each dtype is supported, offsets lie inside the file, no two tensors overlap, and
 * shape × dtype size = byte length. A hostile file gets a {@link CheckpointError} that names the file and
 * tensor, never a crash or a huge allocation (the header is capped, data is only read by exact byte range).
 */
import { open, stat } from 'node:fs/promises';
import { CheckpointError } from '../errors.ts';

/** Stored element types this project reads. */
export type DType = 'F32' | 'BF16' | 'F16';

/** Bytes per element of each supported dtype. */
export const DTYPE_BYTES: Record<DType, number> = { F32: 4, BF16: 2, F16: 2 };

/** HF's own reader refuses headers above 100 MB; a real 7B header is ~20 KB. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Most tensors one file may declare (a 7B FalconMamba has 643; 1.4 M empty entries would take 1.4 GB to parse). */
export const MAX_TENSORS_PER_FILE = 1 << 16;
/** Deepest JSON nesting of a valid header: the header object, a tensor entry, its shape or offsets list. */
export const MAX_HEADER_DEPTH = 3;

/**
 * One pass over the header text before `JSON.parse`: it must nest at most {@link MAX_HEADER_DEPTH} deep and
 * hold at most {@link MAX_TENSORS_PER_FILE} entries. A 100 MB header of nested arrays took 34 s and 4.9 GB in
 * `JSON.parse` before its error; this scan refuses it in a fraction of a second without allocating.
 * @returns a problem, or `null`
 */
function headerShapeProblem(text: string): string | null {
  let depth = 0;
  let entries = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_HEADER_DEPTH) return `nests deeper than ${MAX_HEADER_DEPTH} levels`;
      if (depth === 2 && ++entries > MAX_TENSORS_PER_FILE + 1) return `has over ${MAX_TENSORS_PER_FILE} entries`;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return null;
}

/** Where one tensor lives. Offsets are absolute byte positions in `file`. */
export interface TensorInfo {
  /** The tensor's name in the safetensors header (an HF weight name). */
  name: string;
  /** Element type as stored. */
  dtype: DType;
  /** Shape, outermost dimension first (row-major). */
  shape: number[];
  /** Path of the .safetensors file that holds it. */
  file: string;
  /** Byte offset of the first element in `file`. */
  start: number;
  /** Byte offset one past the last element in `file`. */
  end: number;
}

/** A parsed and validated safetensors header. */
export interface SafetensorsHeader {
  /** The file's path. */
  file: string;
  /** The file's size in bytes. */
  fileSize: number;
  /** Byte position where tensor data begins (8 + header length). */
  dataStart: number;
  /** Every tensor of the file by name. */
  tensors: Map<string, TensorInfo>;
  /** The header's `__metadata__` strings (empty when absent). */
  metadata: Record<string, string>;
}

/**
 * Validates the JSON header of `file` (already read: `headerJson` is its text, `fileSize` the file's size).
 * Exposed for tests; {@link readSafetensorsHeader} reads a file and calls it.
 */
export function parseSafetensorsHeader(headerJson: string, dataStart: number, fileSize: number, file: string): SafetensorsHeader {
  const problem = headerShapeProblem(headerJson);
  if (problem !== null) throw new CheckpointError(`${file}: safetensors header ${problem}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(headerJson);
  } catch (e) {
    throw new CheckpointError(`${file}: safetensors header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CheckpointError(`${file}: safetensors header is not a JSON object`);
  }
  const dataBytes = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        throw new CheckpointError(`${file}: __metadata__ must be an object of strings`);
      }
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw new CheckpointError(`${file}: __metadata__ "${k}" must be a string, got ${typeof v}`);
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    const where = `${file}: tensor "${name}"`;
    if (typeof entry !== 'object' || entry === null) throw new CheckpointError(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
      throw new CheckpointError(`${where}: dtype ${JSON.stringify(dtype)} is not supported (F32, BF16, F16)`);
    }
    if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw new CheckpointError(`${where}: data_offsets ${JSON.stringify(offsets)} are not [begin, end] with begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataBytes) {
      throw new CheckpointError(`${where}: data_offsets [${begin}, ${end}] run past the end of the file (${dataBytes} data bytes)`);
    }
    let count = 1;
    for (const d of shape as number[]) count *= d;
    const expected = count * DTYPE_BYTES[dtype as DType];
    if (expected !== end - begin) {
      throw new CheckpointError(
        `${where}: shape ${JSON.stringify(shape)} × ${dtype} is ${expected} bytes but data_offsets span ${end - begin}`,
      );
    }
    tensors.set(name, { name, dtype: dtype as DType, shape: shape as number[], file, start: dataStart + begin, end: dataStart + end });
  }
  // No two tensors may share bytes. Empty tensors hold none, so they are left out; each other tensor is
  // compared with the one reaching furthest so far (not only its neighbour, which an empty tensor could be).
  const sorted = [...tensors.values()].filter((t) => t.end > t.start).sort((a, b) => a.start - b.start);
  let furthest: TensorInfo | undefined;
  for (const t of sorted) {
    if (furthest && t.start < furthest.end) throw new CheckpointError(`${file}: tensors "${furthest.name}" and "${t.name}" overlap`);
    if (!furthest || t.end > furthest.end) furthest = t;
  }
  return { file, fileSize, dataStart, tensors, metadata };
}

/** Reads and validates the header of a safetensors file without reading tensor data. */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  let size: number;
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new CheckpointError(`${file}: not a regular file (${s.isDirectory() ? 'a directory' : 'a FIFO, device or socket'})`);
    size = s.size;
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(`${file}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (size < 8) throw new CheckpointError(`${file}: truncated (${size} bytes, less than the 8-byte header length)`);
  const fh = await open(file, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_BYTES)) {
      throw new CheckpointError(`${file}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    }
    const headerLen = Number(n);
    if (8 + headerLen > size) {
      throw new CheckpointError(`${file}: header length ${headerLen} runs past the end of the file (${size} bytes)`);
    }
    const headerBuf = Buffer.alloc(headerLen);
    await fh.read(headerBuf, 0, headerLen, 8);
    return parseSafetensorsHeader(headerBuf.toString('utf8'), 8 + headerLen, size, file);
  } finally {
    await fh.close();
  }
}

/** Reads a tensor's stored bytes (exactly its byte range) into a fresh, aligned buffer. */
export async function readTensorBytes(t: TensorInfo): Promise<Uint8Array> {
  return readTensorInto(t, new Uint8Array(new ArrayBuffer(t.end - t.start)));
}

/**
 * Reads a tensor's stored bytes into `out` (e.g. a view of wasm memory), so weights go from disk to their
 * final place without an intermediate copy. `out.length` must equal the tensor's byte length, or with `offset`
 * (bytes into the tensor) fit inside it: a range of the tensor, e.g. a chunk of its rows.
 */
export async function readTensorInto(t: Pick<TensorInfo, 'file' | 'name' | 'start' | 'end'>, out: Uint8Array, offset?: number): Promise<Uint8Array> {
  const size = t.end - t.start;
  if (offset === undefined ? out.length !== size : !(Number.isInteger(offset) && offset >= 0 && offset + out.length <= size)) {
    throw new CheckpointError(`${t.file}: tensor "${t.name}" has ${size} bytes, cannot read ${out.length} bytes at offset ${offset ?? 0}`);
  }
  const from = t.start + (offset ?? 0);
  const fh = await open(t.file, 'r');
  try {
    let done = 0;
    while (done < out.length) {
      const { bytesRead } = await fh.read(out, done, Math.min(out.length - done, 1 << 28), from + done);
      if (bytesRead === 0) throw new CheckpointError(`${t.file}: tensor "${t.name}": file ended while reading`);
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** bf16 → f32 is exact: the bf16 bits are the top half of the f32 bits. */
export function bf16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return dst;
}

/** IEEE half → f32 (exact), including subnormals, infinities and NaN. */
export function f16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) dst[i] = sign * frac * 2 ** -24;
    else if (exp === 31) dst[i] = frac ? NaN : sign * Infinity;
    else dst[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return dst;
}

/** Widens stored bytes of `dtype` to a new Float32Array. */
export function toF32(bytes: Uint8Array, dtype: DType): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  if (dtype === 'F32') return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  return dtype === 'BF16' ? bf16ToF32(halves) : f16ToF32(halves);
}

/** A tensor to write: f32 values (written as F32) or raw bytes with their dtype. */
export interface TensorToWrite {
  /** The tensor's shape; its product must match the data's element count. */
  shape: number[];
  /** f32 values, or already-encoded bytes with their dtype. */
  data: Float32Array | {
    /** The stored dtype of `bytes`. */
    dtype: DType;
    /** Little-endian element bytes. */
    bytes: Uint8Array;
  };
}

/**
 * Encodes tensors as a standard safetensors file (readable by Python's `safetensors`), in insertion order,
 * with string metadata. Used by the oracle's trace and by tests that build checkpoints.
 */
export function encodeSafetensors(tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const bytes = t.data instanceof Float32Array ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : t.data.bytes;
    const dtype = t.data instanceof Float32Array ? 'F32' : t.data.dtype;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so tensor data starts 8-byte aligned, as the Python writer does.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const b of blobs) {
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}
