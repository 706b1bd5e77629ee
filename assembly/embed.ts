// Embedding gather, one kernel per stored dtype. Twin of `embed` in src/reference/ops.ts.
import { bf16ToF32, f16ToF32 } from './common';
import { bf16BlockCols } from './linear';

/** out (L, H) = table (V, H)[ids (L)], table f32. `ids` points to L i32 values. */
export function embedF32(out: usize, table: usize, ids: usize, L: i32, H: i32): void {
  const rowBytes = <usize>H * 4;
  for (let t = 0; t < L; t++) {
    const id = <usize>load<i32>(ids + (<usize>t << 2));
    memory.copy(out + <usize>t * rowBytes, table + id * rowBytes, rowBytes);
  }
}

/**
 * out (L, H) = table (V, H)[ids (L)], table bf16 in the layout of `bf16Interleave` (linear.ts): column blocks
 * `bf16BlockCols(H)` wide (one block when H ≤ 2048), each full group of 8 stored as [w0 w4 w1 w5 w2 w6 w3 w7], the
 * tail of the last block in order.
 */
export function embedBf16(out: usize, table: usize, ids: usize, L: i32, H: i32, V: i32): void {
  const mask = i32x4.splat(0xffff0000);
  const bw = bf16BlockCols(H);
  const blockBytes = <usize>bw * <usize>V * 2;
  for (let t = 0; t < L; t++) {
    const id = <usize>load<i32>(ids + (<usize>t << 2));
    for (let k0 = 0, b = 0; k0 < H; k0 += bw, b++) {
      const n = min(bw, H - k0), n8 = n & ~7;
      const src = table + <usize>b * blockBytes + id * <usize>bw * 2;
      const dst = out + (<usize>t * <usize>H + <usize>k0) * 4;
      for (let k = 0; k < n8; k += 8) {
        const w = v128.load(src + (<usize>k << 1));
        v128.store(dst + (<usize>k << 2), i32x4.shl(w, 16));
        v128.store(dst + (<usize>k << 2), v128.and(w, mask), 16);
      }
      for (let k = n8; k < n; k++) store<f32>(dst + (<usize>k << 2), bf16ToF32(load<u16>(src + (<usize>k << 1))));
    }
  }
}

/** out (L, H) = table (V, H)[ids (L)], table f16 (natural layout). */
export function embedF16(out: usize, table: usize, ids: usize, L: i32, H: i32): void {
  for (let t = 0; t < L; t++) {
    const src = table + <usize>load<i32>(ids + (<usize>t << 2)) * <usize>H * 2;
    const dst = out + <usize>t * <usize>H * 4;
    for (let k = 0; k < H; k++) store<f32>(dst + (<usize>k << 2), f16ToF32(load<u16>(src + (<usize>k << 1))));
  }
}
