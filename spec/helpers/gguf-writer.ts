/**
 * A minimal GGUF encoder for specs that need hostile or hand-made files (the real fixtures come from llama.cpp's
 * tools, fixtures/gguf/make_gguf_fixtures.py). Written from the format's definition (src/io/gguf.ts header).
 */

/** A metadata value with its GGUF type (0 u8 … 12 f64; 8 string; 9 array of `item`). */
export type KV =
  | { t: 'u32' | 'i32' | 'f32' | 'u8' | 'u64' | 'bool' | 'f64'; v: number | boolean | bigint }
  | { t: 'str'; v: string }
  | { t: 'arr'; item: 'str'; v: string[] }
  | { t: 'arr'; item: 'i32' | 'f32' | 'u32'; v: number[] };

/** A tensor to write: its ggml type id, ne (innermost first), and bytes. */
export interface TensorSpec {
  name: string;
  type: number;
  dims: number[];
  data: Uint8Array;
  /** Override the written offset (relative to the data section). */
  offset?: number;
}

/** Options for hostile variants. */
export interface WriteOptions {
  version?: number;
  alignment?: number;
  magic?: string;
}

class Bytes {
  parts: number[] = [];
  u8(v: number) { this.parts.push(v & 255); }
  u32(v: number) { for (let i = 0; i < 4; i++) this.u8(v >>> (8 * i)); }
  u64(v: number | bigint) { let b = BigInt(v); for (let i = 0; i < 8; i++) { this.u8(Number(b & 255n)); b >>= 8n; } }
  f32(v: number) { const a = new Uint8Array(new Float32Array([v]).buffer); a.forEach((x) => this.u8(x)); }
  f64(v: number) { const a = new Uint8Array(new Float64Array([v]).buffer); a.forEach((x) => this.u8(x)); }
  str(s: string) { const b = new TextEncoder().encode(s); this.u64(b.length); b.forEach((x) => this.u8(x)); }
}

const TYPE_ID = { u8: 0, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10, f64: 12 } as const;

function scalar(b: Bytes, t: string, v: number | boolean | bigint | string) {
  if (t === 'u8') b.u8(Number(v));
  else if (t === 'u32' || t === 'i32') b.u32(Number(v));
  else if (t === 'f32') b.f32(Number(v));
  else if (t === 'f64') b.f64(Number(v));
  else if (t === 'bool') b.u8(v ? 1 : 0);
  else if (t === 'u64') b.u64(v as number | bigint);
  else if (t === 'str') b.str(v as string);
}

/** Encodes a GGUF file: header, metadata, tensor infos, padding, data (tensors packed in order, aligned). */
export function encodeGguf(kv: Record<string, KV>, tensors: TensorSpec[], o: WriteOptions = {}): Uint8Array {
  const align = o.alignment ?? 32;
  const b = new Bytes();
  new TextEncoder().encode(o.magic ?? 'GGUF').forEach((x) => b.u8(x));
  b.u32(o.version ?? 3);
  b.u64(tensors.length);
  b.u64(Object.keys(kv).length);
  for (const [k, v] of Object.entries(kv)) {
    b.str(k);
    b.u32(TYPE_ID[v.t]);
    if (v.t === 'arr') {
      b.u32(TYPE_ID[v.item]);
      b.u64(v.v.length);
      for (const x of v.v) scalar(b, v.item, x);
    } else scalar(b, v.t, v.v);
  }
  const offsets: number[] = [];
  let at = 0;
  for (const t of tensors) {
    offsets.push(at);
    at += Math.ceil(t.data.length / align) * align;
  }
  tensors.forEach((t, i) => {
    b.str(t.name);
    b.u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.type);
    b.u64(t.offset ?? offsets[i]);
  });
  while (b.parts.length % align) b.u8(0);
  const head = Uint8Array.from(b.parts);
  const out = new Uint8Array(head.length + at);
  out.set(head);
  tensors.forEach((t, i) => out.set(t.data, head.length + offsets[i]));
  return out;
}

/** f32 values as bytes. */
export function f32Bytes(a: number[] | Float32Array): Uint8Array {
  return new Uint8Array(Float32Array.from(a).buffer);
}
