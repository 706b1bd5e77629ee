/**
 * The block-major layout of bf16 matrices in wasm memory (assembly/linear.ts `XBLOCK`, `bf16BlockCols`): a
 * matrix with more than 2048 columns is stored as column blocks, [block][row][column in block], each block `width`
 * columns wide (the last one padded), so a decode matvec streams one contiguous block at a time against an 8 KB
 * slice of x that stays in L1 (docs/kernels.md). Up to 2048 columns it is plain row-major. The rule here must equal
 * the kernels' (spec/kernels/linear.spec.ts checks both against each other).
 */

/** Columns per block: see assembly/linear.ts `XBLOCK`. */
export const XBLOCK = 2048;

/** Width of each column block of a bf16 matrix with `cols` columns (the twin of the kernels' `bf16BlockCols`). */
export function bf16BlockCols(cols: number): number {
  if (cols <= XBLOCK) return cols;
  const nb = Math.ceil(cols / XBLOCK);
  return Math.ceil(Math.ceil(cols / nb) / 32) * 32;
}

/** Stored 2-byte elements of a (rows, cols) bf16 matrix in this layout (the last block padded to full width). */
export function bf16Elements(rows: number, cols: number): number {
  const bw = bf16BlockCols(cols);
  return rows * bw * Math.ceil(cols / bw);
}

/**
 * Writes `n` row-major rows (`src`, n × cols values) as rows r0 .. r0+n−1 of a block-major matrix with `ld` rows
 * (`dst`, all of its {@link bf16Elements}). Loading streams a tensor through this in chunks of rows.
 */
export function scatterBf16Rows(dst: Uint16Array, src: Uint16Array, r0: number, n: number, cols: number, ld: number): void {
  const bw = bf16BlockCols(cols);
  for (let i = 0; i < n; i++) {
    const r = r0 + i;
    for (let k0 = 0, b = 0; k0 < cols; k0 += bw, b++) {
      const w = Math.min(bw, cols - k0);
      dst.set(src.subarray(i * cols + k0, i * cols + k0 + w), b * bw * ld + r * bw);
    }
  }
}
