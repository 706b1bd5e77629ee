/**
 * GGUF blocks → the engine's quantized layouts, losslessly (nothing is re-quantized):
 * - Q8_0 and Q4_0 are this project's q8 / q4 (docs/quantization.md) with an f16 scale: the quants are the same
 *   bytes in the same order (Q4_0's nibble order is q4's: low nibbles are a block's first 16 weights), the f16
 *   scale becomes the f32 it exactly is, and the blocks move to the pair layout (`blockIndex`);
 * - Q5_0 is q8 too: its 5-bit quants minus 16 are int8 values in [−16, 15] times the block's f16 scale;
 * - the other block types (Q4_1, Q5_1 and the K-quants) become the qk layout (src/reference/quant-qk.ts): their
 *   integers, per-sub-block scales and minimums (src/reference/ggml-unpack.ts), in the pair layout.
 * So the engine's kernels run a file's own weights: the dequantized result equals ggml's dequantized values bit
 * for bit. A row is cols/32 whole blocks (GGUF guarantees it), so no column padding is needed; an odd row count's
 * padding row keeps d = 0 (and m = 0; fresh memory).
 */
import { blockIndex, blocksPerRow, paddedRows, type QuantMatrix } from './quant.ts';
import { emptyQK, type QKMatrix } from './quant-qk.ts';
import { half } from './ggml-dequant.ts';
import { UNPACK_FORMAT, unpackGgml, type UnpackType } from './ggml-unpack.ts';
import type { GgmlType } from '../io/gguf.ts';

/** Which q layout each GGUF type maps to without loss. */
export const NATIVE_QUANT = { Q8_0: 'q8', Q4_0: 'q4', Q5_0: 'q8' } as const;

/** The engine layout a GGUF matrix of `type` runs in natively (undefined: float types, widened or kept). */
export function nativeLayout(type: GgmlType): 'q8' | 'q4' | 'qk' | undefined {
  if (type in NATIVE_QUANT) return NATIVE_QUANT[type as keyof typeof NATIVE_QUANT];
  return type in UNPACK_FORMAT ? 'qk' : undefined;
}

/**
 * Repacks `g` rows of GGUF blocks (`blocks`, rows r0 … r0+g−1 of a matrix with `cols` columns) into the q matrix
 * regions: `quants` (bytes of the whole matrix's quants) and `scales` (its f32 scales).
 */
export function repackGgmlRows(type: keyof typeof NATIVE_QUANT, blocks: Uint8Array, r0: number, g: number, cols: number, quants: Uint8Array, scales: Float32Array): void {
  const nb = cols / 32;
  const bb = type === 'Q8_0' ? 34 : type === 'Q4_0' ? 18 : 22;
  if (!Number.isInteger(nb) || blocks.length !== g * nb * bb) throw new RangeError(`${type}: ${blocks.length} bytes are not ${g} rows of ${cols} columns`);
  if (type === 'Q5_0') {
    const u = unpackGgml(type, blocks);
    const q = new Uint8Array(u.q.buffer);
    for (let r = 0; r < g; r++) {
      for (let b = 0; b < nb; b++) {
        const k = blockIndex(nb, r0 + r, b);
        scales[k] = u.d[r * nb + b];
        quants.set(q.subarray((r * nb + b) * 32, (r * nb + b + 1) * 32), k * 32);
      }
    }
    return;
  }
  const qBytes = bb - 2;
  for (let r = 0; r < g; r++) {
    for (let b = 0; b < nb; b++) {
      const p = (r * nb + b) * bb;
      const k = blockIndex(nb, r0 + r, b);
      scales[k] = half(blocks, p);
      quants.set(blocks.subarray(p + 2, p + bb), k * qBytes);
    }
  }
}

/** A whole Q8_0 / Q4_0 / Q5_0 matrix (rows, cols) as a q8 / q4 {@link QuantMatrix}. */
export function ggmlToQuantMatrix(type: keyof typeof NATIVE_QUANT, blocks: Uint8Array, rows: number, cols: number): QuantMatrix {
  const kind = NATIVE_QUANT[type];
  const nb = blocksPerRow(cols);
  const n = paddedRows(rows) * nb;
  const quants = kind === 'q8' ? new Int8Array(n * 32) : new Uint8Array(n * 16);
  const scales = new Float32Array(n);
  repackGgmlRows(type, blocks, 0, rows, cols, new Uint8Array(quants.buffer), scales);
  return { kind, rows, cols, blocksPerRow: nb, quants, scales };
}

/**
 * Repacks `g` rows of blocks of an unpackable type (rows r0 … of a matrix with `cols` columns) into a qk
 * matrix's regions: `quants` (int8, the whole matrix), `scales` and `mins` (null for types without a minimum).
 */
export function repackQKRows(type: UnpackType, blocks: Uint8Array, r0: number, g: number, cols: number, quants: Int8Array, scales: Float32Array, mins: Float32Array | null): void {
  const nb = cols / 32;
  const { group, hasMin } = UNPACK_FORMAT[type];
  if (hasMin !== (mins !== null)) throw new RangeError(`${type}: ${hasMin ? 'needs' : 'has no'} minimums`);
  const u = unpackGgml(type, blocks);
  if (!Number.isInteger(nb) || u.q.length !== g * cols) throw new RangeError(`${type}: ${blocks.length} bytes are not ${g} rows of ${cols} columns`);
  const S = 32 / group;
  for (let r = 0; r < g; r++) {
    for (let b = 0; b < nb; b++) {
      const k = blockIndex(nb, r0 + r, b);
      const src = (r * nb + b) * 32;
      quants.set(u.q.subarray(src, src + 32), k * 32);
      for (let s = 0; s < S; s++) {
        scales[k * S + s] = u.d[src / group + s];
        if (mins) mins[k * S + s] = u.m[src / group + s];
      }
    }
  }
}

/** A whole matrix of an unpackable type (rows, cols) as a {@link QKMatrix}. */
export function ggmlToQKMatrix(type: UnpackType, blocks: Uint8Array, rows: number, cols: number): QKMatrix {
  const { group, hasMin } = UNPACK_FORMAT[type];
  const Q = emptyQK(rows, cols, group, hasMin);
  repackQKRows(type, blocks, 0, rows, cols, Q.quants, Q.scales, Q.mins);
  return Q;
}
