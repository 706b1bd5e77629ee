/**
 * llama.cpp's Q8_0 and Q4_0 blocks → this project's q8 / q4 matrices (docs/quantization.md), losslessly: the quants
 * are the same bytes in the same order (Q4_0's nibble order is q4's: low nibbles are a block's first 16 weights),
 * the f16 scale becomes the f32 it exactly is, and the blocks move to the pair layout (`blockIndex`). So the
 * engine's q8/q4 kernels run a Q8_0/Q4_0 file's own weights: `dequantize` of the result equals ggml's dequantized
 * values bit for bit (both compute f32(q·d)). A row is cols/32 whole blocks (GGUF guarantees it), so no column
 * padding is needed; an odd row count's padding row keeps d = 0 (fresh memory).
 */
import { blockIndex, blocksPerRow, paddedRows, type QuantMatrix } from './quant.ts';
import { half } from './ggml-dequant.ts';

/** Which q layout each native GGUF type maps to. */
export const NATIVE_QUANT = { Q8_0: 'q8', Q4_0: 'q4' } as const;

/**
 * Repacks `g` rows of GGUF blocks (`blocks`, rows r0 … r0+g−1 of a matrix with `cols` columns) into the q matrix
 * regions: `quants` (bytes of the whole matrix's quants) and `scales` (its f32 scales).
 */
export function repackGgmlRows(type: keyof typeof NATIVE_QUANT, blocks: Uint8Array, r0: number, g: number, cols: number, quants: Uint8Array, scales: Float32Array): void {
  const nb = cols / 32;
  const qBytes = type === 'Q8_0' ? 32 : 16;
  const bb = qBytes + 2;
  if (!Number.isInteger(nb) || blocks.length !== g * nb * bb) throw new RangeError(`${type}: ${blocks.length} bytes are not ${g} rows of ${cols} columns`);
  for (let r = 0; r < g; r++) {
    for (let b = 0; b < nb; b++) {
      const p = (r * nb + b) * bb;
      const k = blockIndex(nb, r0 + r, b);
      scales[k] = half(blocks, p);
      quants.set(blocks.subarray(p + 2, p + bb), k * qBytes);
    }
  }
}

/** A whole Q8_0 / Q4_0 matrix (rows, cols) as a q8 / q4 {@link QuantMatrix}. */
export function ggmlToQuantMatrix(type: keyof typeof NATIVE_QUANT, blocks: Uint8Array, rows: number, cols: number): QuantMatrix {
  const kind = NATIVE_QUANT[type];
  const nb = blocksPerRow(cols);
  const n = paddedRows(rows) * nb;
  const quants = kind === 'q8' ? new Int8Array(n * 32) : new Uint8Array(n * 16);
  const scales = new Float32Array(n);
  repackGgmlRows(type, blocks, 0, rows, cols, new Uint8Array(quants.buffer), scales);
  return { kind, rows, cols, blocksPerRow: nb, quants, scales };
}
