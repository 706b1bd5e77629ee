/**
 * The engine's `qk` matrix format: the lossless home of the GGUF block types that are not Q8_0 / Q4_0 / Q5_0
 * (Q4_1, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K). The readable twin of assembly/qk.ts; why this format is
 * docs/gguf.md "Block types".
 *
 * Every one of those types is, exactly, small integers times a per-sub-block scale minus a per-sub-block minimum:
 * w = f32(f32(d·q) − m), d and m f32, q an integer of at most 6 bits plus sign, G = 16 or 32 weights per
 * sub-block (src/reference/ggml-unpack.ts gives each type's q, d and m). So one format holds them all: int8
 * quants, an f32 scale per G weights and (for the types with a minimum) an f32 minimum per G weights.
 *
 * Layout (docs/quantization.md's q8 layout, plus per-sub-block scales and mins):
 *   - blocks of 32 weights (cols is a multiple of 32 for every GGUF row), rows interleaved in pairs: block b of
 *     row r is block number k(r, b) = (r − r mod 2)·nb + 2b + (r mod 2) (`blockIndex`), rows padded to even;
 *   - `quants` Int8Array, block (r, b) = 32 bytes at 32·k(r, b), byte j = q of column 32b + j;
 *   - `scales` f32, sub-block s (of 32/G) of block (r, b) at index (32/G)·k(r, b) + s; `mins` the same or null.
 *
 * The dot (what the kernels compute), per token x quantized per 32 as for q8 (`quantizeActivationQ8`: d_x, q_x):
 *   Σ_sub-blocks d·d_x·Σ q·q_x − m·(d_x·Σ q_x),
 * the integer sums exact, d_x·Σ q_x per 16 columns precomputed once per token (`activationSums16`, f32).
 * The weight this form multiplies is d·q − m exactly (d·q is exact in f32 for every type: ≤ 24 significant
 * bits), where ggml's f32 dequantization rounds d·q − m to f32 once: ≤ 2⁻²⁴·|w| apart, only for types with a min.
 */
import { blockIndex, paddedRows, QBLOCK, type QuantActivation } from './quant.ts';

const f = Math.fround;

/** A `qk` matrix (rows, cols); see the module comment for the layout. */
export interface QKMatrix {
  kind: 'qk';
  rows: number;
  cols: number;
  /** cols / 32. */
  blocksPerRow: number;
  /** Weights per scale (and min): 16 or 32. */
  group: 16 | 32;
  /** (paddedRows · nb · 32) int8. */
  quants: Int8Array;
  /** (paddedRows · nb · 32/G) f32. */
  scales: Float32Array;
  /** Like `scales`, or null for types with no minimum (value d·q). */
  mins: Float32Array | null;
}

/** Bytes of a qk matrix: quants, scales and mins (0 when none). */
export function qkBytes(rows: number, cols: number, group: 16 | 32, hasMin: boolean): { quants: number; scales: number; mins: number } {
  if (cols % QBLOCK !== 0) throw new RangeError(`qk: ${cols} columns is not a multiple of 32`);
  const blocks = paddedRows(rows) * (cols / QBLOCK);
  const scales = blocks * (QBLOCK / group) * 4;
  return { quants: blocks * QBLOCK, scales, mins: hasMin ? scales : 0 };
}

/** An empty (zero) qk matrix: zero scales and mins, so padding rows are value 0. */
export function emptyQK(rows: number, cols: number, group: 16 | 32, hasMin: boolean): QKMatrix {
  const b = qkBytes(rows, cols, group, hasMin);
  return {
    kind: 'qk', rows, cols, blocksPerRow: cols / QBLOCK, group,
    quants: new Int8Array(b.quants), scales: new Float32Array(b.scales / 4), mins: hasMin ? new Float32Array(b.mins / 4) : null,
  };
}

/** Index in `scales` / `mins` of the sub-block holding column c of row r. */
export function qkScaleIndex(Q: QKMatrix, r: number, c: number): number {
  const k = blockIndex(Q.blocksPerRow, r, Math.floor(c / QBLOCK));
  return k * (QBLOCK / Q.group) + Math.floor((c % QBLOCK) / Q.group);
}

/** The value of row r, column c: f32(f32(d·q) − m), ggml's dequantized weight bit for bit. */
export function qkValue(Q: QKMatrix, r: number, c: number): number {
  const k = blockIndex(Q.blocksPerRow, r, Math.floor(c / QBLOCK));
  const s = qkScaleIndex(Q, r, c);
  return f(f(Q.scales[s] * Q.quants[k * QBLOCK + (c % QBLOCK)]) - (Q.mins ? Q.mins[s] : 0));
}

/** Q (rows, cols) → f32, the padding row dropped. */
export function dequantizeQK(Q: QKMatrix): Float32Array {
  const out = new Float32Array(Q.rows * Q.cols);
  for (let r = 0; r < Q.rows; r++) for (let c = 0; c < Q.cols; c++) out[r * Q.cols + c] = qkValue(Q, r, c);
  return out;
}

/**
 * d_x · Σ q_x per 16 columns of each token's quantized activation: (L, 2·nb) f32, the minimum's partner in the
 * qk dot (twin of assembly `activationSums16`, bit-exact: an exact integer sum times d_x, rounded once).
 */
export function activationSums16(xq: QuantActivation): Float32Array {
  const nb = xq.blocksPerRow;
  const out = new Float32Array(xq.L * nb * 2);
  for (let t = 0; t < xq.L; t++) {
    for (let h = 0; h < 2 * nb; h++) {
      let s = 0;
      for (let j = 0; j < 16; j++) s += xq.quants[t * nb * QBLOCK + 16 * h + j];
      out[t * 2 * nb + h] = f(xq.scales[t * nb + (h >> 1)] * s);
    }
  }
  return out;
}

/**
 * out (L, outF) = Σ_sub-blocks f32(d·d_x)·Σ q·q_x − m·xs + bias, xs = {@link activationSums16}: the integer-dot
 * form the qk kernels compute (twin of assembly `linearQK`), accumulated in f64, so the kernel (f32 sums) differs
 * from it only by the rounding of its partial sums.
 */
export function linearQKInt(out: Float32Array, xq: QuantActivation, Q: QKMatrix, bias: Float32Array | null, L: number, inF: number, outF: number): void {
  if (Q.cols !== inF || Q.rows !== outF) throw new RangeError(`qk weight (${Q.rows}, ${Q.cols}) does not fit linear ${inF} → ${outF}`);
  if (xq.n !== inF || xq.L < L) throw new RangeError(`activation (${xq.L}, ${xq.n}) does not fit (${L}, ${inF})`);
  const nb = Q.blocksPerRow, G = Q.group, S = QBLOCK / G;
  const xs = activationSums16(xq);
  for (let t = 0; t < L; t++) {
    for (let o = 0; o < outF; o++) {
      let acc = bias ? bias[o] : 0;
      for (let b = 0; b < nb; b++) {
        const k = blockIndex(nb, o, b);
        const dx = xq.scales[t * nb + b];
        for (let s = 0; s < S; s++) {
          let dot = 0;
          for (let j = s * G; j < (s + 1) * G; j++) dot += Q.quants[k * QBLOCK + j] * xq.quants[(t * nb + b) * QBLOCK + j];
          acc += f(Q.scales[k * S + s] * dx) * dot;
          if (Q.mins) {
            // the sub-block's Σ d_x·q_x: one 16-column sum, or two for G = 32
            const x16 = xs[t * 2 * nb + 2 * b + (G === 16 ? s : 0)] + (G === 32 ? xs[t * 2 * nb + 2 * b + 1] : 0);
            acc -= Q.mins[k * S + s] * x16;
          }
        }
      }
      out[t * outF + o] = acc;
    }
  }
}
