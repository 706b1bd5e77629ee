/**
 * GGUF (llama.cpp's model file, versions 2 and 3): a header, key/value metadata, tensor infos, then tensor data.
 *
 *   u32 magic "GGUF" · u32 version · u64 tensor_count · u64 kv_count
 *   kv_count × { string key · u32 value_type · value }
 *   tensor_count × { string name · u32 n_dims · n_dims × u64 ne (innermost first) · u32 ggml_type · u64 offset }
 *   padding to `general.alignment` (default 32) · tensor data (each tensor at data_start + offset)
 *
 * A string is u64 length + UTF-8 bytes; an array is u32 item type + u64 count + items. All little-endian.
 * (Format: llama.cpp ggml/include/gguf.h; version 1 had u32 counts and is refused.)
 *
 * Everything before the data is parsed and validated before any tensor byte is read: every count, string length
 * and array length is checked against the bytes that remain before anything is allocated for it (so a hostile
 * count cannot allocate more than the header's own size, itself capped by {@link MAX_GGUF_HEADER_BYTES}), the
 * alignment is a power of two, each tensor's dims multiply without overflow to whole blocks of its type, its byte
 * range is aligned and lies inside the file, and no two tensors overlap. Errors are {@link CheckpointError}s naming
 * the file and the key or tensor.
 */
import { open, stat } from 'node:fs/promises';
import { CheckpointError } from '../errors.ts';
import { readTensorInto } from './safetensors.ts';

/** A ggml tensor type this project reads. */
export type GgmlType = 'F32' | 'F16' | 'BF16' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1' | 'Q8_0' | 'Q2_K' | 'Q3_K' | 'Q4_K' | 'Q5_K' | 'Q6_K';

/** The ggml tensor types this project reads, with their ggml ids (ggml.h `enum ggml_type`). */
export const GGML_TYPES: Record<GgmlType, number> = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  BF16: 30,
};

/**
 * Elements per block and bytes per block of each type (ggml-common.h `block_*` structs; the static_asserts
 * there give the sizes). A row's innermost dimension must be a whole number of blocks.
 */
export const GGML_BLOCK: Record<GgmlType, { elements: number; bytes: number }> = {
  F32: { elements: 1, bytes: 4 },
  F16: { elements: 1, bytes: 2 },
  BF16: { elements: 1, bytes: 2 },
  Q4_0: { elements: 32, bytes: 18 },
  Q4_1: { elements: 32, bytes: 20 },
  Q5_0: { elements: 32, bytes: 22 },
  Q5_1: { elements: 32, bytes: 24 },
  Q8_0: { elements: 32, bytes: 34 },
  Q2_K: { elements: 256, bytes: 84 },
  Q3_K: { elements: 256, bytes: 110 },
  Q4_K: { elements: 256, bytes: 144 },
  Q5_K: { elements: 256, bytes: 176 },
  Q6_K: { elements: 256, bytes: 210 },
};

const TYPE_BY_ID = new Map<number, GgmlType>(Object.entries(GGML_TYPES).map(([k, v]) => [v, k as GgmlType]));

/**
 * The header (metadata + tensor infos) may be at most this large. A FalconMamba-7B GGUF's is ~3 MB (the
 * 65024-token vocab and its merges); the largest vocabularies in use (~256k tokens) stay well under 64 MB.
 */
export const MAX_GGUF_HEADER_BYTES = 256 * 1024 * 1024;

/** ggml's GGML_MAX_DIMS. */
const MAX_DIMS = 4;
/** ggml's GGML_MAX_NAME: a tensor name is at most 63 bytes. */
const MAX_NAME_BYTES = 63;

/** GGUF value types (gguf.h `enum gguf_type`). */
const enum VT {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
}
const SCALAR_BYTES: Partial<Record<number, number>> = {
  [VT.U8]: 1, [VT.I8]: 1, [VT.U16]: 2, [VT.I16]: 2, [VT.U32]: 4, [VT.I32]: 4, [VT.F32]: 4, [VT.BOOL]: 1,
  [VT.U64]: 8, [VT.I64]: 8, [VT.F64]: 8,
};

/**
 * One metadata value. Integers and floats become numbers (a 64-bit integer beyond 2^53 becomes a bigint),
 * bools booleans, strings strings; arrays of numbers typed arrays (or number[] for 64-bit items), arrays of
 * strings string[], arrays of bools boolean[]. Arrays of arrays are refused (llama.cpp writes none).
 */
export type GgufValue = number | bigint | boolean | string | GgufArray;
/** An array value of the metadata. */
export type GgufArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array
  | (number | bigint)[] | string[] | boolean[];

/** Where one tensor of a GGUF file lives. Offsets are absolute byte positions in `file`. */
export interface GgufTensorInfo {
  /** The tensor's name in the file (a llama.cpp name, e.g. `blk.0.ssm_in.weight`). */
  name: string;
  /** Its ggml type. */
  type: GgmlType;
  /** ggml's `ne`: dimensions innermost first (a matrix of `rows` rows of `cols` is `[cols, rows]`). */
  dims: number[];
  /** The same dimensions outermost first (row-major, as safetensors and this project's shapes). */
  shape: number[];
  /** Number of elements. */
  elements: number;
  /** Path of the .gguf file. */
  file: string;
  /** Byte offset of the tensor's first block in `file`. */
  start: number;
  /** Byte offset one past its last block. */
  end: number;
}

/** A parsed and validated GGUF header. */
export interface GgufHeader {
  /** The file's path. */
  file: string;
  /** The file's size in bytes. */
  fileSize: number;
  /** 2 or 3. */
  version: number;
  /** `general.alignment`, or 32. */
  alignment: number;
  /** Absolute byte position where tensor data begins. */
  dataStart: number;
  /** The metadata, by key, in file order. */
  metadata: Map<string, GgufValue>;
  /** Every tensor of the file by name, in file order. */
  tensors: Map<string, GgufTensorInfo>;
}

/** Thrown by the cursor when the bytes read so far end before the header does: read more and parse again. */
export class NeedMore extends Error {}

/** A bounds-checked little-endian reader over the header bytes read so far. */
class Cursor {
  pos = 0;
  private readonly view: DataView;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  constructor(
    private readonly bytes: Uint8Array,
    /** The whole file's size: nothing may run past it, whatever has been read so far. */
    private readonly fileSize: number,
    private readonly file: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** Bytes left in what has been read. */
  get left(): number {
    return this.bytes.length - this.pos;
  }
  /** Checks that `n` more bytes are there; `what` names the field in the error. */
  need(n: number, what: string): void {
    if (n <= this.left) return;
    if (n > this.fileSize - this.pos) throw new CheckpointError(`${this.file}: ${what} runs past the end of the file`);
    throw new NeedMore();
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** A u64 as a number; `max` bounds it (a count, length or offset beyond it is an error, not a huge number). */
  u64(what: string, max = Number.MAX_SAFE_INTEGER): number {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(max)) throw new CheckpointError(`${this.file}: ${what} = ${v} is out of range (at most ${max})`);
    return Number(v);
  }
  /** A GGUF string, its length checked against the bytes left before it is read. */
  string(what: string): string {
    const n = this.u64(`${what}: string length`);
    this.need(n, `${what} (a string of ${n} bytes)`);
    const s = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return this.utf8.decode(s);
    } catch {
      throw new CheckpointError(`${this.file}: ${what} is not valid UTF-8`);
    }
  }
  /** One scalar value of type `t`. */
  scalar(t: number, what: string): number | bigint | boolean {
    const size = SCALAR_BYTES[t]!;
    this.need(size, what);
    const v = this.view, p = this.pos;
    this.pos += size;
    switch (t) {
      case VT.U8: return v.getUint8(p);
      case VT.I8: return v.getInt8(p);
      case VT.U16: return v.getUint16(p, true);
      case VT.I16: return v.getInt16(p, true);
      case VT.U32: return v.getUint32(p, true);
      case VT.I32: return v.getInt32(p, true);
      case VT.F32: return v.getFloat32(p, true);
      case VT.F64: return v.getFloat64(p, true);
      case VT.BOOL: {
        const b = v.getUint8(p);
        if (b > 1) throw new CheckpointError(`${this.file}: ${what}: bool byte ${b} is not 0 or 1`);
        return b === 1;
      }
      case VT.U64: return safe(v.getBigUint64(p, true));
      default: return safe(v.getBigInt64(p, true));
    }
  }
  /** `count` raw little-endian items of `size` bytes, copied (so a typed array view is aligned). */
  raw(count: number, size: number, what: string): ArrayBuffer {
    this.need(count * size, what);
    const out = this.bytes.slice(this.pos, this.pos + count * size);
    this.pos += count * size;
    return out.buffer;
  }
}

function safe(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Reads one value of type `t`; `what` names the key in errors. */
function readValue(c: Cursor, t: number, what: string, file: string): GgufValue {
  if (t === VT.STRING) return c.string(what);
  if (t in SCALAR_BYTES) return c.scalar(t, what);
  if (t !== VT.ARRAY) throw new CheckpointError(`${file}: ${what}: unknown value type ${t}`);
  const it = c.u32(`${what}: array item type`);
  const count = c.u64(`${what}: array length`);
  if (it === VT.ARRAY) throw new CheckpointError(`${file}: ${what}: arrays of arrays are not supported`);
  // Each item takes at least one byte (a string at least its 8-byte length): a count that cannot fit in the
  // header's bytes is refused before anything is allocated for it.
  const minItem = it === VT.STRING ? 8 : SCALAR_BYTES[it];
  if (minItem === undefined) throw new CheckpointError(`${file}: ${what}: unknown array item type ${it}`);
  if (count > Math.floor(MAX_GGUF_HEADER_BYTES / minItem)) {
    throw new CheckpointError(`${file}: ${what}: array length ${count} exceeds the ${MAX_GGUF_HEADER_BYTES}-byte header limit`);
  }
  c.need(count * minItem, `${what}: array of ${count} items`);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (!le && it !== VT.STRING && it !== VT.BOOL && it !== VT.U8 && it !== VT.I8) {
    throw new CheckpointError(`${file}: ${what}: numeric arrays need a little-endian host`);
  }
  switch (it) {
    case VT.STRING: {
      const out: string[] = [];
      for (let i = 0; i < count; i++) out.push(c.string(`${what}[${i}]`));
      return out;
    }
    case VT.BOOL: {
      const out: boolean[] = [];
      for (let i = 0; i < count; i++) out.push(c.scalar(VT.BOOL, `${what}[${i}]`) as boolean);
      return out;
    }
    case VT.U8: return new Uint8Array(c.raw(count, 1, what));
    case VT.I8: return new Int8Array(c.raw(count, 1, what));
    case VT.U16: return new Uint16Array(c.raw(count, 2, what));
    case VT.I16: return new Int16Array(c.raw(count, 2, what));
    case VT.U32: return new Uint32Array(c.raw(count, 4, what));
    case VT.I32: return new Int32Array(c.raw(count, 4, what));
    case VT.F32: return new Float32Array(c.raw(count, 4, what));
    case VT.F64: return new Float64Array(c.raw(count, 8, what));
    default: {
      const out: (number | bigint)[] = [];
      for (let i = 0; i < count; i++) out.push(c.scalar(it, `${what}[${i}]`) as number | bigint);
      return out;
    }
  }
}

/**
 * Parses and validates the header of a GGUF file of `fileSize` bytes from its first `bytes`. Exposed for tests; {@link readGgufHeader} reads a file and calls it.
 * @throws CheckpointError naming the file and the key or tensor at fault.
 */
export function parseGgufHeader(bytes: Uint8Array, fileSize: number, file: string): GgufHeader {
  const c = new Cursor(bytes, fileSize, file);
  c.need(4, 'magic');
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== 'GGUF') throw new CheckpointError(`${file}: not a GGUF file (magic ${JSON.stringify(magic)}, expected "GGUF")`);
  c.pos = 4;
  const version = c.u32('version');
  if (version !== 2 && version !== 3) {
    throw new CheckpointError(`${file}: GGUF version ${version} is not supported (2 or 3)`);
  }
  // Every tensor info takes ≥ 8 + 4 + 8 + 4 + 8 bytes and every key/value ≥ 8 + 4 + 1: bound both by the file.
  const nTensors = c.u64('tensor_count', Math.floor(fileSize / 32));
  const nKv = c.u64('kv_count', Math.floor(fileSize / 13));

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string(`metadata key #${i}`);
    if (metadata.has(key)) throw new CheckpointError(`${file}: metadata key "${key}" appears twice`);
    const t = c.u32(`metadata "${key}": value type`);
    metadata.set(key, readValue(c, t, `metadata "${key}"`, file));
  }

  let alignment = 32;
  const a = metadata.get('general.alignment');
  if (a !== undefined) {
    if (typeof a !== 'number' || !Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0 || a > 1 << 30) {
      throw new CheckpointError(`${file}: metadata "general.alignment" = ${String(a)} is not a power of two`);
    }
    alignment = a;
  }

  const infos: { name: string; type: GgmlType; dims: number[]; elements: number; bytes: number; offset: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.string(`tensor #${i}: name`);
    const where = `${file}: tensor "${name}"`;
    if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new CheckpointError(`${where}: name longer than ${MAX_NAME_BYTES} bytes`);
    if (names.has(name)) throw new CheckpointError(`${where}: appears twice`);
    names.add(name);
    const nDims = c.u32(`tensor "${name}": n_dims`);
    if (nDims < 1 || nDims > MAX_DIMS) throw new CheckpointError(`${where}: n_dims ${nDims} is not in 1..${MAX_DIMS}`);
    const dims: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const ne = c.u64(`tensor "${name}": dimension ${d}`);
      dims.push(ne);
      elements *= ne;
      // Beyond 2^53 elements no file fits on a disk; refusing here keeps every product below exact.
      if (elements > Number.MAX_SAFE_INTEGER) throw new CheckpointError(`${where}: dimensions [${dims}] overflow`);
    }
    const typeId = c.u32(`tensor "${name}": type`);
    const type = TYPE_BY_ID.get(typeId);
    if (!type) throw new CheckpointError(`${where}: ggml type ${typeId} is not supported (${Object.keys(GGML_TYPES).join(', ')})`);
    const { elements: be, bytes: bb } = GGML_BLOCK[type];
    if (dims[0] % be !== 0) {
      throw new CheckpointError(`${where}: innermost dimension ${dims[0]} is not a multiple of ${type}'s block of ${be}`);
    }
    const bytes = (elements / be) * bb;
    const offset = c.u64(`tensor "${name}": offset`);
    if (offset % alignment !== 0) throw new CheckpointError(`${where}: offset ${offset} is not a multiple of the alignment ${alignment}`);
    infos.push({ name, type, dims, elements, bytes, offset });
  }
  const headerEnd = c.pos;
  const dataStart = Math.ceil(headerEnd / alignment) * alignment;
  if (dataStart > fileSize && nTensors > 0) {
    throw new CheckpointError(`${file}: tensor data would start at byte ${dataStart}, past the end of the file (${fileSize} bytes)`);
  }
  const dataBytes = fileSize - dataStart;
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of infos) {
    if (t.offset > dataBytes || t.bytes > dataBytes - t.offset) {
      throw new CheckpointError(
        `${file}: tensor "${t.name}": ${t.bytes} bytes at data offset ${t.offset} run past the end of the file (${dataBytes} data bytes)`,
      );
    }
    const start = dataStart + t.offset;
    tensors.set(t.name, {
      name: t.name, type: t.type, dims: t.dims, shape: [...t.dims].reverse(), elements: t.elements, file, start, end: start + t.bytes,
    });
  }
  const sorted = [...tensors.values()].filter((t) => t.end > t.start).sort((x, y) => x.start - y.start);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].start < sorted[i - 1].end) {
      throw new CheckpointError(`${file}: tensors "${sorted[i - 1].name}" and "${sorted[i].name}" overlap`);
    }
  }
  return { file, fileSize, version, alignment, dataStart, metadata, tensors };
}

/**
 * Reads and validates the header of a GGUF file without reading tensor data: it reads the file's first MiB,
 * then twice as much each time the header runs on, up to {@link MAX_GGUF_HEADER_BYTES}.
 */
export async function readGgufHeader(file: string): Promise<GgufHeader> {
  let size: number;
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new CheckpointError(`${file}: not a regular file`);
    size = s.size;
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(`${file}: cannot read the file`);
  }
  const fh = await open(file, 'r');
  try {
    for (let want = 1 << 20; ; want *= 2) {
      const n = Math.min(want, size, MAX_GGUF_HEADER_BYTES);
      const buf = new Uint8Array(n);
      let done = 0;
      while (done < n) {
        const { bytesRead } = await fh.read(buf, done, n - done, done);
        if (bytesRead === 0) throw new CheckpointError(`${file}: file ended while reading the header`);
        done += bytesRead;
      }
      try {
        return parseGgufHeader(buf, size, file);
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
        if (n >= MAX_GGUF_HEADER_BYTES) throw new CheckpointError(`${file}: header exceeds the ${MAX_GGUF_HEADER_BYTES}-byte limit`);
      }
    }
  } finally {
    await fh.close();
  }
}

/**
 * Reads `out.length` stored bytes of a tensor, from byte `offset` of it (default 0: then `out` must hold the whole
 * tensor), into `out`: straight from disk to their final place.
 */
export async function readGgufTensorInto(t: GgufTensorInfo, out: Uint8Array, offset?: number): Promise<Uint8Array> {
  return readTensorInto(t, out, offset); // the same byte-range read as a safetensors tensor's
}
