/**
 * ggml's block formats as integers, scales and minimums: each weight is w = f32(f32(d·q) − m), with q an
 * integer (int8 range), d and m f32 values shared by G = 16 or 32 consecutive weights (a sub-block). This is the
 * same arithmetic as `dequantize` (src/reference/ggml-dequant.ts, which documents the block layouts), split
 * before the last two roundings, so a kernel can multiply the integers and apply d and m per sub-block: the
 * decomposition loses nothing (spec/gguf/unpack.spec.ts: f32(f32(d·q) − m) = `dequantize`, bit for bit).
 *
 * Per type (d, dmin: the block's f16 scales; sc, mn: its packed sub-block scale and min):
 *   Q8_0  G 32  q = qs                       d                m 0
 *   Q5_0  G 32  q = nibble|bit·16 − 16       d                m 0
 *   Q4_0  G 32  q = nibble − 8               d                m 0
 *   Q4_1  G 32  q = nibble                   d                m −(block min)   (ggml adds it: f32(d·q + min))
 *   Q5_1  G 32  q = nibble|bit·16            d                m −(block min)
 *   Q2_K  G 16  q ∈ [0, 3]                   f32(d·(sc & 15)) m f32(dmin·(sc >> 4))
 *   Q3_K  G 16  q ∈ [−4, 3]                  f32(d·(sc − 32)) m 0
 *   Q4_K  G 32  q ∈ [0, 15]                  f32(d·sc)        m f32(dmin·mn)
 *   Q5_K  G 32  q ∈ [0, 31]                  f32(d·sc)        m f32(dmin·mn)
 *   Q6_K  G 16  q ∈ [−32, 31]                f32(d·sc), sc int8  m 0
 * Q8_0, Q4_0 and Q5_0 (no minimum, G 32) are the engine's q8 layout (Q4_0 also q4); the rest are its qk layout
 * (src/reference/quant-qk.ts).
 */
import { GGML_BLOCK, type GgmlType } from '../io/gguf.ts';
import { half } from './ggml-dequant.ts';

const f = Math.fround;

/** The block types that unpack, with their sub-block size and whether they carry a minimum. */
export const UNPACK_FORMAT = {
  Q8_0: { group: 32, hasMin: false },
  Q4_0: { group: 32, hasMin: false },
  Q5_0: { group: 32, hasMin: false },
  Q4_1: { group: 32, hasMin: true },
  Q5_1: { group: 32, hasMin: true },
  Q2_K: { group: 16, hasMin: true },
  Q3_K: { group: 16, hasMin: false },
  Q4_K: { group: 32, hasMin: true },
  Q5_K: { group: 32, hasMin: true },
  Q6_K: { group: 16, hasMin: false },
} as const satisfies Partial<Record<GgmlType, { group: 16 | 32; hasMin: boolean }>>;

/** A block type {@link unpackGgml} handles. */
export type UnpackType = keyof typeof UNPACK_FORMAT;

/** Is `type` one of the unpackable block types? */
export function isUnpackType(type: GgmlType): type is UnpackType {
  return type in UNPACK_FORMAT;
}

/** Unpacked blocks: `q` per weight, `d` and `m` per sub-block of `group` weights, in the order of the weights. */
export interface Unpacked {
  q: Int8Array;
  d: Float32Array;
  m: Float32Array;
  group: 16 | 32;
}

type UnpackFn = (b: Uint8Array, p: number, q: Int8Array, o: number, d: Float32Array, m: Float32Array, s: number) => void;

/** The 32 high bits of a Q5 block, bit j for weight j. */
function qh32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

/** Q5_0 / Q5_1's 32 five-bit quants (nibbles at `qs`, fifth bits in `qh`) minus `zero`. */
function q5(b: Uint8Array, qs: number, qh: number, zero: number, q: Int8Array, o: number): void {
  for (let j = 0; j < 16; j++) {
    const v = b[qs + j];
    q[o + j] = ((v & 15) | (((qh >>> j) & 1) << 4)) - zero;
    q[o + j + 16] = ((v >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - zero;
  }
}

/** Q4_0 / Q4_1's 32 nibbles minus `zero`: low nibbles are the first 16 weights. */
function q4(b: Uint8Array, qs: number, zero: number, q: Int8Array, o: number): void {
  for (let j = 0; j < 16; j++) {
    q[o + j] = (b[qs + j] & 15) - zero;
    q[o + j + 16] = (b[qs + j] >> 4) - zero;
  }
}

/** get_scale_min_k4: sub-block j's 6-bit scale and min from the 12 packed bytes at `p`. */
function scaleMinK4(b: Uint8Array, p: number, j: number): [number, number] {
  if (j < 4) return [b[p + j] & 63, b[p + j + 4] & 63];
  return [(b[p + j + 4] & 15) | ((b[p + j - 4] >> 6) << 4), (b[p + j + 4] >> 4) | ((b[p + j] >> 6) << 4)];
}

const UNPACK: Record<UnpackType, UnpackFn> = {
  Q8_0: (b, p, q, o, d, _m, s) => {
    d[s] = half(b, p);
    for (let j = 0; j < 32; j++) q[o + j] = (b[p + 2 + j] << 24) >> 24;
  },
  Q4_0: (b, p, q, o, d, _m, s) => {
    d[s] = half(b, p);
    q4(b, p + 2, 8, q, o);
  },
  Q4_1: (b, p, q, o, d, m, s) => {
    d[s] = half(b, p);
    m[s] = -half(b, p + 2);
    q4(b, p + 4, 0, q, o);
  },
  Q5_0: (b, p, q, o, d, _m, s) => {
    d[s] = half(b, p);
    q5(b, p + 6, qh32(b, p + 2), 16, q, o);
  },
  Q5_1: (b, p, q, o, d, m, s) => {
    d[s] = half(b, p);
    m[s] = -half(b, p + 2);
    q5(b, p + 8, qh32(b, p + 4), 0, q, o);
  },
  Q2_K: (b, p, q, o, d, m, s) => {
    const D = half(b, p + 80), Dmin = half(b, p + 82);
    for (let sub = 0; sub < 16; sub++) {
      // sub-block 16n·… : 32 bytes of qs per 128 weights; shift 2·(sub mod 8 >> 1); half 16 = sub & 1
      const n = sub >> 3, shift = 2 * ((sub & 7) >> 1), h = sub & 1;
      const sc = b[p + sub];
      d[s + sub] = f(D * (sc & 15));
      m[s + sub] = f(Dmin * (sc >> 4));
      for (let l = 0; l < 16; l++) q[o + 16 * sub + l] = (b[p + 16 + 32 * n + 16 * h + l] >> shift) & 3;
    }
  },
  Q3_K: (b, p, q, o, d, _m, s) => {
    const D = half(b, p + 108);
    for (let sub = 0; sub < 16; sub++) {
      const lo = sub < 8 ? b[p + 96 + sub] & 15 : b[p + 96 + sub - 8] >> 4;
      const hi = (b[p + 104 + (sub % 4)] >> (2 * (sub >> 2))) & 3;
      d[s + sub] = f(D * ((lo | (hi << 4)) - 32));
      const n = sub >> 3, shift = 2 * ((sub & 7) >> 1), h = sub & 1;
      const mask = 1 << (4 * n + ((sub & 7) >> 1)); // hmask bit: one per (n, shift)
      for (let l = 0; l < 16; l++) {
        const k = 16 * h + l;
        q[o + 16 * sub + l] = ((b[p + 32 + 32 * n + k] >> shift) & 3) - (b[p + k] & mask ? 0 : 4);
      }
    }
  },
  Q4_K: (b, p, q, o, d, m, s) => {
    const D = half(b, p), Dmin = half(b, p + 2);
    for (let sub = 0; sub < 8; sub++) {
      const [sc, mn] = scaleMinK4(b, p + 4, sub);
      d[s + sub] = f(D * sc);
      m[s + sub] = f(Dmin * mn);
      const qs = p + 16 + 32 * (sub >> 1), hi = sub & 1;
      for (let l = 0; l < 32; l++) q[o + 32 * sub + l] = hi ? b[qs + l] >> 4 : b[qs + l] & 15;
    }
  },
  Q5_K: (b, p, q, o, d, m, s) => {
    const D = half(b, p), Dmin = half(b, p + 2);
    for (let sub = 0; sub < 8; sub++) {
      const [sc, mn] = scaleMinK4(b, p + 4, sub);
      d[s + sub] = f(D * sc);
      m[s + sub] = f(Dmin * mn);
      const qs = p + 48 + 32 * (sub >> 1), hi = sub & 1;
      for (let l = 0; l < 32; l++) q[o + 32 * sub + l] = (hi ? b[qs + l] >> 4 : b[qs + l] & 15) | (((b[p + 16 + l] >> sub) & 1) << 4);
    }
  },
  Q6_K: (b, p, q, o, d, _m, s) => {
    const D = half(b, p + 208);
    for (let sub = 0; sub < 16; sub++) d[s + sub] = f(D * ((b[p + 192 + sub] << 24) >> 24));
    for (let n = 0; n < 2; n++) {
      const ql = p + 64 * n, qh = p + 128 + 32 * n, out = o + 128 * n;
      for (let l = 0; l < 32; l++) {
        const h = b[qh + l];
        q[out + l] = ((b[ql + l] & 15) | ((h & 3) << 4)) - 32;
        q[out + l + 32] = ((b[ql + l + 32] & 15) | (((h >> 2) & 3) << 4)) - 32;
        q[out + l + 64] = ((b[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        q[out + l + 96] = ((b[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
      }
    }
  },
};

/** Whole blocks of `type` (as stored) → their integers, scales and minimums (m is 0 for types without one). */
export function unpackGgml(type: UnpackType, bytes: Uint8Array): Unpacked {
  const { elements: be, bytes: bb } = GGML_BLOCK[type];
  if (bytes.length % bb !== 0) throw new RangeError(`${type}: ${bytes.length} bytes is not a whole number of ${bb}-byte blocks`);
  const group = UNPACK_FORMAT[type].group;
  const n = (bytes.length / bb) * be;
  const q = new Int8Array(n), d = new Float32Array(n / group), m = new Float32Array(n / group);
  const fn = UNPACK[type];
  for (let p = 0, o = 0; p < bytes.length; p += bb, o += be) fn(bytes, p, q, o, d, m, o / group);
  return { q, d, m, group };
}

/** f32(f32(d·q) − m) of every weight: equals `dequantize(type, bytes)` bit for bit. */
export function combineUnpacked(u: Unpacked): Float32Array {
  const y = new Float32Array(u.q.length);
  for (let i = 0; i < y.length; i++) {
    const s = Math.floor(i / u.group);
    y[i] = f(f(u.d[s] * u.q[i]) - u.m[s]);
  }
  return y;
}
