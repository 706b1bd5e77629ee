/**
 * Block quantization of the large matrices at load time (docs/quantization.md): the readable twin of
 * assembly/quant.ts. Formats after llama.cpp's Q8_0 / Q4_0 (ggml-quants.c `quantize_row_q8_0_ref`,
 * `quantize_row_q4_0_ref`): 32 consecutive weights of a row share one scale d.
 *
 * Layout (structure of arrays, chosen for 16-byte SIMD loads; docs/quantization.md):
 *   - a matrix W (rows, cols) is cut into nb = ceil(cols / 32) blocks per row; the last block of a row is
 *     padded with zero weights (quant 0 in q8, quant 8 = value 0 in q4), so kernels only ever see whole blocks;
 *     an odd row count is padded with one zero row;
 *   - rows are stored in interleaved pairs: block b of row r is block number
 *         k(r, b) = (r − r mod 2)·nb + 2b + (r mod 2)
 *     i.e. [row 0 blk 0][row 1 blk 0][row 0 blk 1][row 1 blk 1]…[row 2 blk 0][row 3 blk 0]… — the decode kernel
 *     does 2 rows per pass, and one sequential stream (instead of two rows 4 KiB apart) measured 2× faster from
 *     DRAM (bench/quant.ts);
 *   - `scales` f32, d of block (r, b) at index k(r, b);
 *   - q8: `quants` Int8Array, block (r, b) = 32 bytes at 32·k(r, b), byte j = q of column 32b + j; value = d · q,
 *     q ∈ [−127, 127];
 *   - q4: `quants` Uint8Array, block (r, b) = 16 bytes at 16·k(r, b); byte j holds q[j] in its low nibble and
 *     q[j+16] in its high nibble (llama.cpp's order: `v & 15` gives the block's first 16 weights and `v >> 4` its
 *     last 16, in column order); value = d · (q − 8), q ∈ [0, 15].
 *
 * Quantization (per block, x the 32 f32 values):
 *   - q8: amax = max |x|, d = amax / 127, q = round(x / d) (half away from zero). Error |x − d·q| ≤ d/2.
 *   - q4: m = the x of largest magnitude (with its sign), d = m / −8, q = min(15, trunc(x / d + 8.5)).
 *     x/d ∈ [−8, 8] with m ↦ −8 exactly, so q = round-half-up(x/d) + 8 except x/d > 7.5 (the far side of the
 *     range), clamped to 15. Error |x − d·(q − 8)| ≤ |d|/2 unclamped, ≤ |d| clamped: so ≤ |d| always.
 *   d is rounded to f32 (it is stored as f32); an all-zero block gets d = 0 and quants of value 0.
 *
 * Activations (the fast kernels' integer dot, as llama.cpp's Q8_0 × Q8_0 `ggml_vec_dot_q8_0_q8_0`): each token's
 * x (n) is quantized per block of 32 the same way as q8, d_x = amax / 127 (f32), q = roundEven(x · (1/d_x)) with
 * the product and reciprocal rounded to f32 (exactly what f32x4 `mul` + `nearest` compute). This twin keeps the
 * quants as int16; the wasm kernels store them as int8 (|q| ≤ 127, so the same values in half the bytes: an
 * activation row of 8192 columns is 8 KB and stays in L1) and widen them with `load8x8_s` as they load them for
 * `i32x4.dot_i16x8_s`. The block's integer dot Σ q_w·q_x is exact
 * in i32 (|Σ| ≤ 32·127·127), then scaled by d_w·d_x.
 */

const f = Math.fround;

/** Weights per block (llama.cpp QK8_0 = QK4_0 = 32). */
export const QBLOCK = 32;

/** A block-quantized weight matrix (rows, cols); see the module comment for the layout. */
export interface QuantMatrix {
  kind: 'q8' | 'q4';
  rows: number;
  cols: number;
  /** ceil(cols / 32). */
  blocksPerRow: number;
  /** q8: Int8Array (rowsPadded · nb · 32); q4: Uint8Array (rowsPadded · nb · 16), two weights per byte. */
  quants: Int8Array | Uint8Array;
  /** (rowsPadded · nb) f32 block scales, in block order k(r, b). */
  scales: Float32Array;
}

/** Rows as stored: `rows` rounded up to even (the pair layout). */
export function paddedRows(rows: number): number {
  return rows + (rows & 1);
}

/** k(r, b): the storage index of block b of row r (row pairs interleaved block by block). */
export function blockIndex(nb: number, r: number, b: number): number {
  return (r - (r & 1)) * nb + 2 * b + (r & 1);
}

/** Block-quantized activations (L, n): quants as int16 (the values the kernels' `dot_i16x8_s` multiplies). */
export interface QuantActivation {
  L: number;
  n: number;
  blocksPerRow: number;
  /** (L, nb·32), each in [−127, 127]; padding columns are 0. */
  quants: Int16Array;
  /** (L, nb) f32. */
  scales: Float32Array;
}

/** Blocks per row for `cols` columns. */
export function blocksPerRow(cols: number): number {
  return Math.ceil(cols / QBLOCK);
}

/** Bytes a quantized (rows, cols) matrix takes: quants + f32 scales (what a decode step reads). */
export function quantBytes(kind: 'q8' | 'q4', rows: number, cols: number): { quants: number; scales: number } {
  const nb = blocksPerRow(cols);
  const R = paddedRows(rows);
  return { quants: R * nb * (kind === 'q8' ? 32 : 16), scales: R * nb * 4 };
}

/** round half away from zero (C `roundf`, used by llama.cpp's q8 reference). */
function roundAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** round half to even (wasm `f32x4.nearest`, IEEE roundTiesToEven). */
export function roundEven(v: number): number {
  const r = Math.round(v); // half up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** W (rows, cols) f32, row-major → Q8_0 blocks. */
export function quantizeQ8(W: Float32Array, rows: number, cols: number): QuantMatrix {
  const nb = blocksPerRow(cols);
  const quants = new Int8Array(paddedRows(rows) * nb * QBLOCK);
  const scales = new Float32Array(paddedRows(rows) * nb);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const c0 = b * QBLOCK;
      const c1 = Math.min(cols, c0 + QBLOCK);
      let amax = 0;
      for (let c = c0; c < c1; c++) amax = Math.max(amax, Math.abs(W[r * cols + c]));
      const d = f(amax / 127);
      const k = blockIndex(nb, r, b);
      scales[k] = d;
      if (d === 0) continue;
      for (let c = c0; c < c1; c++) quants[k * QBLOCK + c - c0] = roundAway(W[r * cols + c] / d);
    }
  }
  return { kind: 'q8', rows, cols, blocksPerRow: nb, quants, scales };
}

/** W (rows, cols) f32, row-major → Q4_0 blocks (nibbles packed as in the module comment). */
export function quantizeQ4(W: Float32Array, rows: number, cols: number): QuantMatrix {
  const nb = blocksPerRow(cols);
  const quants = new Uint8Array(paddedRows(rows) * nb * 16).fill(0x88); // value 0, also the padding row
  const scales = new Float32Array(paddedRows(rows) * nb);
  const q = new Uint8Array(QBLOCK);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const c0 = b * QBLOCK;
      const c1 = Math.min(cols, c0 + QBLOCK);
      let m = 0;
      for (let c = c0; c < c1; c++) if (Math.abs(W[r * cols + c]) > Math.abs(m)) m = W[r * cols + c];
      const d = f(m / -8);
      const k = blockIndex(nb, r, b);
      scales[k] = d;
      q.fill(8); // value 0: the padding and an all-zero block
      if (d !== 0) for (let c = c0; c < c1; c++) q[c - c0] = Math.min(15, Math.trunc(W[r * cols + c] / d + 8.5));
      const at = k * 16;
      for (let j = 0; j < 16; j++) quants[at + j] = q[j] | (q[j + 16] << 4);
    }
  }
  return { kind: 'q4', rows, cols, blocksPerRow: nb, quants, scales };
}

/** Quantizes W to the given kind. */
export function quantize(kind: 'q8' | 'q4', W: Float32Array, rows: number, cols: number): QuantMatrix {
  return kind === 'q8' ? quantizeQ8(W, rows, cols) : quantizeQ4(W, rows, cols);
}

/** The value (an exact f32: d · q with |q| ≤ 127) of row r, column c of a quantized matrix. */
export function quantValue(Q: QuantMatrix, r: number, c: number): number {
  const nb = Q.blocksPerRow;
  const b = (c / QBLOCK) | 0;
  const k = blockIndex(nb, r, b);
  const d = Q.scales[k];
  const j = c % QBLOCK;
  if (Q.kind === 'q8') return f(d * Q.quants[k * QBLOCK + j]);
  const byte = Q.quants[k * 16 + (j & 15)];
  return f(d * ((j < 16 ? byte & 15 : byte >> 4) - 8));
}

/** Q (rows, cols) → f32 (rows, cols), the padding dropped. */
export function dequantize(Q: QuantMatrix): Float32Array {
  const out = new Float32Array(Q.rows * Q.cols);
  for (let r = 0; r < Q.rows; r++) for (let c = 0; c < Q.cols; c++) out[r * Q.cols + c] = quantValue(Q, r, c);
  return out;
}

/**
 * out (L, outF) = x (L, inF) @ deq(Wq) (outF, inF)ᵀ + bias (outF): dequantize inside the dot, f64 accumulation.
 * The exact meaning of a quantized linear layer (f32 activations); `out` must not alias `x`.
 */
export function linearQ(
  out: Float32Array,
  x: Float32Array,
  Wq: QuantMatrix,
  bias: Float32Array | null,
  L: number,
  inF: number,
  outF: number,
): void {
  checkShape(Wq, inF, outF);
  for (let t = 0; t < L; t++) {
    for (let o = 0; o < outF; o++) {
      let acc = bias ? bias[o] : 0;
      for (let i = 0; i < inF; i++) acc += quantValue(Wq, o, i) * x[t * inF + i];
      out[t * outF + o] = acc;
    }
  }
}

/**
 * x (L, n) f32 → Q8 blocks of 32 per row, int16 quants: the activation side of the integer dot
 * (twin of assembly `quantizeActivationQ8`, bit-exact).
 */
export function quantizeActivationQ8(x: Float32Array, L: number, n: number): QuantActivation {
  const nb = blocksPerRow(n);
  const quants = new Int16Array(L * nb * QBLOCK);
  const scales = new Float32Array(L * nb);
  for (let t = 0; t < L; t++) {
    for (let b = 0; b < nb; b++) {
      const c0 = b * QBLOCK;
      const c1 = Math.min(n, c0 + QBLOCK);
      let amax = 0;
      for (let c = c0; c < c1; c++) amax = Math.max(amax, Math.abs(x[t * n + c]));
      const d = f(amax / 127);
      const id = d === 0 ? 0 : f(1 / d);
      scales[t * nb + b] = d;
      for (let c = c0; c < c1; c++) quants[t * nb * QBLOCK + c] = roundEven(f(x[t * n + c] * id));
    }
  }
  return { L, n, blocksPerRow: nb, quants, scales };
}

/**
 * out (L, outF) = Σ_blocks d_w·d_x · (Σ q_w·q_x) + bias: the integer-dot form the SIMD kernels compute
 * (twin of assembly `linearQ8` / `linearQ4`), from activations quantized by {@link quantizeActivationQ8}.
 * The block dot is exact (an integer); the scaled sum is accumulated in f64, so the kernel (f32 sums) differs
 * from it only by f32 rounding of the partial sums.
 */
export function linearQInt(
  out: Float32Array,
  xq: QuantActivation,
  Wq: QuantMatrix,
  bias: Float32Array | null,
  L: number,
  inF: number,
  outF: number,
): void {
  checkShape(Wq, inF, outF);
  if (xq.n !== inF || xq.L < L) throw new RangeError(`activation (${xq.L}, ${xq.n}) does not fit (${L}, ${inF})`);
  const nb = Wq.blocksPerRow;
  for (let t = 0; t < L; t++) {
    for (let o = 0; o < outF; o++) {
      let acc = bias ? bias[o] : 0;
      for (let b = 0; b < nb; b++) {
        const k = blockIndex(nb, o, b);
        acc += f(Wq.scales[k] * xq.scales[t * nb + b]) * blockDot(Wq, xq, t, o, b);
      }
      out[t * outF + o] = acc;
    }
  }
}

/** Σ_j q_w·q_x of block b of row o against token t's activation block b: an exact integer (|Σ| ≤ 32·127·128). */
function blockDot(Wq: QuantMatrix, xq: QuantActivation, t: number, o: number, b: number): number {
  const nb = Wq.blocksPerRow;
  const k = blockIndex(nb, o, b);
  let s = 0;
  for (let j = 0; j < QBLOCK; j++) {
    const qx = xq.quants[(t * nb + b) * QBLOCK + j];
    let qw: number;
    if (Wq.kind === 'q8') qw = Wq.quants[k * QBLOCK + j];
    else {
      const byte = Wq.quants[k * 16 + (j & 15)];
      qw = (j < 16 ? byte & 15 : byte >> 4) - 8;
    }
    s += qw * qx;
  }
  return s;
}

/**
 * The integer block dots of token t's activation against every row: (rows, nb) i32, row-major. What the wasm
 * kernels' integer step must give exactly (twin of assembly `blockDotsQ`), before any f32 scaling.
 */
export function blockDotsQ(Wq: QuantMatrix, xq: QuantActivation, t: number): Int32Array {
  const nb = Wq.blocksPerRow;
  if (xq.blocksPerRow !== nb || t < 0 || t >= xq.L) throw new RangeError(`activation (${xq.L}, ${xq.n}) token ${t} does not fit ${Wq.cols} columns`);
  const out = new Int32Array(Wq.rows * nb);
  for (let o = 0; o < Wq.rows; o++) for (let b = 0; b < nb; b++) out[o * nb + b] = blockDot(Wq, xq, t, o, b);
  return out;
}

function checkShape(Wq: QuantMatrix, inF: number, outF: number): void {
  if (Wq.cols !== inF || Wq.rows !== outF) {
    throw new RangeError(`quantized weight (${Wq.rows}, ${Wq.cols}) does not fit linear ${inF} → ${outF}`);
  }
}
