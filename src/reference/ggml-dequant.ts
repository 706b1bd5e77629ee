/**
 * ggml's block formats → f32: the readable meaning of every GGUF tensor type this project runs (docs/gguf.md).
 * Layouts and formulas are llama.cpp's (ggml-common.h `block_*`, ggml-quants.c `dequantize_row_*`); every
 * product is rounded to f32 in the order ggml's scalar code computes it, so the values are the file's own
 * weights, not an approximation of them. `d`, `m`, `dmin` are IEEE half (f16) unless said otherwise.
 *
 * Blocks of 32 (a row is cols/32 blocks, in column order):
 *   Q8_0  34 B: d · qs[32] (int8)                                 w[j] = qs[j]·d
 *   Q4_0  18 B: d · qs[16]                                        w[j] = ((qs[j] & 15) − 8)·d, w[j+16] = ((qs[j] >> 4) − 8)·d
 *   Q4_1  20 B: d · m · qs[16]                                    w[j] = (qs[j] & 15)·d + m,   w[j+16] = (qs[j] >> 4)·d + m
 *   Q5_0  22 B: d · qh (u32 LE) · qs[16]                          q = nibble | (bit j (resp. j+16) of qh) << 4; w = (q − 16)·d
 *   Q5_1  24 B: d · m · qh (u32 LE) · qs[16]                      q as Q5_0;  w = q·d + m
 * Super-blocks of 256 (a row is cols/256 of them):
 *   Q2_K  84 B: scales[16] · qs[64] · d · dmin                    16 sub-blocks of 16; scales[s] = sc | mn << 4;
 *               w = d·sc · q − dmin·mn, q = 2 bits
 *   Q3_K 110 B: hmask[32] · qs[64] · scales[12] · d               16 sub-blocks of 16; 6-bit scales packed in 12 bytes;
 *               w = d·(sc − 32) · (q − (high bit clear ? 4 : 0)), q = 2 low bits
 *   Q4_K 144 B: d · dmin · scales[12] · qs[128]                   8 sub-blocks of 32; 6-bit sc/mn (get_scale_min_k4);
 *               w = d·sc · q − dmin·mn, q = 4 bits
 *   Q5_K 176 B: d · dmin · scales[12] · qh[32] · qs[128]          as Q4_K with a 5th bit from qh
 *   Q6_K 210 B: ql[128] · qh[64] · scales[16] (int8) · d          16 sub-blocks of 16; w = d·sc · (q − 32), q = 6 bits
 */
import type { GgmlType } from '../io/gguf.ts';
import { GGML_BLOCK } from '../io/gguf.ts';

const f = Math.fround;

/** IEEE half at byte `p` of `b` → its (exact) value. */
export function half(b: Uint8Array, p: number): number {
  const h = b[p] | (b[p + 1] << 8);
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Q8_0: 32 int8 quants times an f16 scale. */
function q8_0(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p);
  for (let j = 0; j < 32; j++) y[o + j] = f(((b[p + 2 + j] << 24) >> 24) * d);
}

/** Q4_0: low nibbles are the block's first 16 weights, high nibbles its last 16; zero point 8. */
function q4_0(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p);
  for (let j = 0; j < 16; j++) {
    const v = b[p + 2 + j];
    y[o + j] = f(((v & 15) - 8) * d);
    y[o + j + 16] = f(((v >> 4) - 8) * d);
  }
}

/** Q4_1: as Q4_0 with no zero point but a per-block minimum m. */
function q4_1(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p), m = half(b, p + 2);
  for (let j = 0; j < 16; j++) {
    const v = b[p + 4 + j];
    y[o + j] = f(f((v & 15) * d) + m);
    y[o + j + 16] = f(f((v >> 4) * d) + m);
  }
}

/** The 32 high bits of a Q5 block, bit j for weight j. */
function qh32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

/** Q5_0: a 4-bit nibble plus a 5th bit from qh; zero point 16. */
function q5_0(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p), qh = qh32(b, p + 2);
  for (let j = 0; j < 16; j++) {
    const v = b[p + 6 + j];
    const lo = (v & 15) | (((qh >>> j) & 1) << 4);
    const hi = (v >> 4) | (((qh >>> (j + 16)) & 1) << 4);
    y[o + j] = f((lo - 16) * d);
    y[o + j + 16] = f((hi - 16) * d);
  }
}

/** Q5_1: Q5_0's quants with a per-block minimum instead of a zero point. */
function q5_1(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p), m = half(b, p + 2), qh = qh32(b, p + 4);
  for (let j = 0; j < 16; j++) {
    const v = b[p + 8 + j];
    const lo = (v & 15) | (((qh >>> j) & 1) << 4);
    const hi = (v >> 4) | (((qh >>> (j + 16)) & 1) << 4);
    y[o + j] = f(f(lo * d) + m);
    y[o + j + 16] = f(f(hi * d) + m);
  }
}

/** Q2_K: 16 sub-blocks of 16 with 4-bit scale and min; qs holds 4 quants per byte, 32 bytes per 128 weights. */
function q2_K(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p + 80), dmin = half(b, p + 82);
  let s = 0;
  for (let n = 0; n < 2; n++) {
    const q = p + 16 + 32 * n;
    for (let shift = 0; shift < 8; shift += 2) {
      for (let half16 = 0; half16 < 2; half16++) {
        const sc = b[p + s++];
        const dl = f(d * (sc & 15)), ml = f(dmin * (sc >> 4));
        for (let l = 0; l < 16; l++) y[o++] = f(f(dl * ((b[q + 16 * half16 + l] >> shift) & 3)) - ml);
      }
    }
  }
}

/** Q3_K's 16 six-bit scales, unpacked from 12 bytes (ggml-quants.c `dequantize_row_q3_K`), each minus 32. */
function q3Scales(b: Uint8Array, p: number): number[] {
  const sc: number[] = [];
  for (let i = 0; i < 16; i++) {
    // Low 4 bits: byte i (i < 8) low nibble, or byte i−8 high nibble; high 2 bits: byte 8 + i%4, bits 2·⌊i/4⌋.
    const lo = i < 8 ? b[p + i] & 15 : b[p + i - 8] >> 4;
    const hi = (b[p + 8 + (i % 4)] >> (2 * Math.floor(i / 4))) & 3;
    sc.push((lo | (hi << 4)) - 32);
  }
  return sc;
}

/** Q3_K: 2 low bits in qs (as Q2_K), the third bit in hmask (set = no offset, clear = −4), 6-bit signed scales. */
function q3_K(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p + 108);
  const sc = q3Scales(b, p + 96);
  let s = 0, m = 1;
  for (let n = 0; n < 2; n++) {
    const q = p + 32 + 32 * n;
    for (let shift = 0; shift < 8; shift += 2, m <<= 1) {
      for (let half16 = 0; half16 < 2; half16++) {
        const dl = f(d * sc[s++]);
        for (let l = 0; l < 16; l++) {
          const k = 16 * half16 + l;
          const qv = ((b[q + k] >> shift) & 3) - (b[p + k] & m ? 0 : 4);
          y[o++] = f(dl * qv);
        }
      }
    }
  }
}

/** get_scale_min_k4: sub-block j's 6-bit scale and min from the 12 packed bytes at `p`. */
function scaleMinK4(b: Uint8Array, p: number, j: number): [number, number] {
  if (j < 4) return [b[p + j] & 63, b[p + j + 4] & 63];
  return [(b[p + j + 4] & 15) | ((b[p + j - 4] >> 6) << 4), (b[p + j + 4] >> 4) | ((b[p + j] >> 6) << 4)];
}

/** Q4_K: 8 sub-blocks of 32; each 32 bytes of qs hold two sub-blocks (low nibbles, then high nibbles). */
function q4_K(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p), dmin = half(b, p + 2);
  for (let g = 0; g < 4; g++) {
    const q = p + 16 + 32 * g;
    for (let h = 0; h < 2; h++) {
      const [sc, mn] = scaleMinK4(b, p + 4, 2 * g + h);
      const d1 = f(d * sc), m1 = f(dmin * mn);
      for (let l = 0; l < 32; l++) y[o++] = f(f(d1 * (h ? b[q + l] >> 4 : b[q + l] & 15)) - m1);
    }
  }
}

/** Q5_K: Q4_K plus a 5th bit: sub-block s takes bit s of qh[l]. */
function q5_K(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p), dmin = half(b, p + 2);
  for (let g = 0; g < 4; g++) {
    const q = p + 48 + 32 * g;
    for (let h = 0; h < 2; h++) {
      const s = 2 * g + h;
      const [sc, mn] = scaleMinK4(b, p + 4, s);
      const d1 = f(d * sc), m1 = f(dmin * mn);
      for (let l = 0; l < 32; l++) {
        const qv = (h ? b[q + l] >> 4 : b[q + l] & 15) + ((b[p + 16 + l] >> s) & 1 ? 16 : 0);
        y[o++] = f(f(d1 * qv) - m1);
      }
    }
  }
}

/** Q6_K: per 128 weights, 64 bytes of ql (low 4 bits) and 32 of qh (2 high bits each), 8 int8 scales. */
function q6_K(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p + 208);
  for (let n = 0; n < 2; n++) {
    const ql = p + 64 * n, qh = p + 128 + 32 * n, sc = p + 192 + 8 * n, out = o + 128 * n;
    for (let l = 0; l < 32; l++) {
      const is = l >> 4;
      const h = b[qh + l];
      const q1 = ((b[ql + l] & 15) | ((h & 3) << 4)) - 32;
      const q2 = ((b[ql + l + 32] & 15) | (((h >> 2) & 3) << 4)) - 32;
      const q3 = ((b[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
      const q4 = ((b[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
      const s = (k: number) => (b[sc + is + k] << 24) >> 24;
      y[out + l] = f(f(d * s(0)) * q1);
      y[out + l + 32] = f(f(d * s(2)) * q2);
      y[out + l + 64] = f(f(d * s(4)) * q3);
      y[out + l + 96] = f(f(d * s(6)) * q4);
    }
  }
}

type BlockFn = (b: Uint8Array, p: number, y: Float32Array, o: number) => void;
const BLOCK_FNS: Partial<Record<GgmlType, BlockFn>> = { Q8_0: q8_0, Q4_0: q4_0, Q4_1: q4_1, Q5_0: q5_0, Q5_1: q5_1, Q2_K: q2_K, Q3_K: q3_K, Q4_K: q4_K, Q5_K: q5_K, Q6_K: q6_K };

/**
 * Dequantizes `bytes` (whole blocks of `type`, as stored in a GGUF file) into `out` (elements = blocks ·
 * elements per block). F32, F16 and BF16 are widened exactly.
 */
export function dequantize(type: GgmlType, bytes: Uint8Array, out?: Float32Array): Float32Array {
  const { elements: be, bytes: bb } = GGML_BLOCK[type];
  if (bytes.length % bb !== 0) throw new RangeError(`${type}: ${bytes.length} bytes is not a whole number of ${bb}-byte blocks`);
  const n = (bytes.length / bb) * be;
  const y = out ?? new Float32Array(n);
  if (y.length !== n) throw new RangeError(`${type}: ${n} elements do not fit an output of ${y.length}`);
  if (type === 'F32') {
    y.set(new Float32Array(bytes.slice().buffer));
  } else if (type === 'F16') {
    for (let i = 0; i < n; i++) y[i] = half(bytes, 2 * i);
  } else if (type === 'BF16') {
    const bits = new Uint32Array(y.buffer, y.byteOffset, n);
    for (let i = 0; i < n; i++) bits[i] = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16;
  } else {
    const fn = BLOCK_FNS[type]!;
    for (let i = 0, p = 0, o = 0; p < bytes.length; i++, p += bb, o += be) fn(bytes, p, y, o);
  }
  return y;
}
