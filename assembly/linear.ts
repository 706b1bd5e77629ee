// Linear layers: out (L, outF) = x (L, inF) @ W (outF, inF)ᵀ + bias (outF), PyTorch `nn.Linear`, with the
// weight in its stored dtype (f32, bf16, f16) and f32 accumulation. Twins of `linear` in src/reference/ops.ts.
//
// Decode (L = 1) is a matrix-vector product bound by how fast weight bytes can be turned into f32 lanes, so the
// bf16 path uses a load-time layout that makes that two instructions per 8 weights (see `bf16Interleave`), in
// column blocks that keep the slice of x in L1 (see `XBLOCK`). Prefill (L > 1) uses register tiles (bf16 2 tokens ×
// 2 rows, `tileBf16`; f32/f16 4 tokens × 2 rows), so each weight vector loaded serves several tokens.
//
// Every kernel has a `…Rows` form that computes output rows [r0, r1) only, with the full `outF` as the row
// stride of `out`: the unit of work a thread pool hands out (src/wasm/threads.ts).
import { bf16ToF32, f16ToF32, f16x4ToF32, hsum, madd } from './common';

/**
 * Columns per block of the bf16 layout. A decode matvec re-reads x (f32) for every row; measured on the 2-core
 * Zen 5 (Node 20, 64 MB matrices, one thread), one pass over whole rows streams 23 GB/s while x is ≤ 8 KB
 * (cols ≤ 2048) but 11.5 GB/s at 4096 columns and 8 GB/s at 8192 (the 7B's in_proj and out_proj): x no longer
 * stays in L1 beside the weight stream (with x's footprint capped at 8 KB the same 8192-column rows streamed at
 * 19–21 GB/s). Cutting each row into blocks read in separate strided passes was worse (6 GB/s: the stream breaks
 * every 4 KB), so the blocks are a layout: block-major, [block][row][column in block], one contiguous stream
 * per block, each reading an 8 KB slice of x over every row.
 */
export const XBLOCK: i32 = 2048;

/**
 * Width of the column blocks of a bf16 matrix with `cols` columns: `cols` itself up to {@link XBLOCK} (one block,
 * plain row-major), else the smallest multiple of 32 that covers `cols` in ceil(cols / XBLOCK) blocks. Every
 * block is stored `width` columns wide (the last one padded); src/wasm/layout.ts has the same rule.
 */
export function bf16BlockCols(cols: i32): i32 {
  if (cols <= XBLOCK) return cols;
  const nb = (cols + XBLOCK - 1) / XBLOCK;
  return (((cols + nb - 1) / nb + 31) >> 5) << 5;
}

/**
 * W (rows, cols) bf16 in block-major layout (`bf16BlockCols`; a row-major matrix when cols ≤ XBLOCK), in place:
 * each full group of 8 in a row of a block becomes [w0 w4 w1 w5 w2 w6 w3 w7]; the tail of the last block stays in
 * order. Loaded as 4 i32 lanes, `i32x4.shl 16` then gives f32 w0..w3 and `v128.and 0xffff0000` gives f32 w4..w7
 * (bf16 is the top half of an f32), against the contiguous x[k..k+3], x[k+4..k+7].
 */
export function bf16Interleave(W: usize, rows: i32, cols: i32): void {
  const bw = bf16BlockCols(cols);
  const rowBytes = <usize>bw * 2, blockBytes = <usize>bw * <usize>rows * 2;
  for (let k0 = 0, b = 0; k0 < cols; k0 += bw, b++) {
    const n8 = min(bw, cols - k0) & ~7;
    for (let r = 0; r < rows; r++) {
      const row = W + <usize>b * blockBytes + <usize>r * rowBytes;
      for (let k = 0; k < n8; k += 8) {
        const p = row + (<usize>k << 1);
        v128.store(p, v128.shuffle<u8>(v128.load(p), v128.load(p), 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------- bf16

/**
 * Σ_k w[k]·x[k] over n weights of one interleaved row slice: 32 weights per iteration into 8 accumulators,
 * measured (512 MB of weights, 1024 columns) at 22.7 GB/s against 21.3 for 16 per iteration / 4 accumulators,
 * 18.3 for `extend_low/high` + `shl` in natural layout, 18.6 for `load16x4_u` + `shl`, and 6.4 for two rows per
 * pass sharing the x loads (more rows per pass spill x64's 16 vector registers). The streaming-read ceiling was ~26 GB/s.
 */
// @ts-ignore: decorator
@inline function dotBf16(w: usize, x: usize, n: i32): f32 {
  const mask = i32x4.splat(0xffff0000);
  const K32 = n & ~31, K8 = n & ~7;
  let a = f32x4.splat(0), b = f32x4.splat(0), c = f32x4.splat(0), d = f32x4.splat(0);
  let e = f32x4.splat(0), f = f32x4.splat(0), g = f32x4.splat(0), h = f32x4.splat(0);
  for (let k = 0; k < K32; k += 32) {
    const wp = w + (<usize>k << 1), xp = x + (<usize>k << 2);
    const p = v128.load(wp), q = v128.load(wp, 16), s = v128.load(wp, 32), u = v128.load(wp, 48);
    a = madd(i32x4.shl(p, 16), v128.load(xp), a);
    b = madd(v128.and(p, mask), v128.load(xp, 16), b);
    c = madd(i32x4.shl(q, 16), v128.load(xp, 32), c);
    d = madd(v128.and(q, mask), v128.load(xp, 48), d);
    e = madd(i32x4.shl(s, 16), v128.load(xp, 64), e);
    f = madd(v128.and(s, mask), v128.load(xp, 80), f);
    g = madd(i32x4.shl(u, 16), v128.load(xp, 96), g);
    h = madd(v128.and(u, mask), v128.load(xp, 112), h);
  }
  for (let k = K32; k < K8; k += 8) {
    const p = v128.load(w + (<usize>k << 1)), xp = x + (<usize>k << 2);
    a = madd(i32x4.shl(p, 16), v128.load(xp), a);
    b = madd(v128.and(p, mask), v128.load(xp, 16), b);
  }
  let s0 = hsum(f32x4.add(f32x4.add(f32x4.add(a, b), f32x4.add(c, d)), f32x4.add(f32x4.add(e, f), f32x4.add(g, h))));
  for (let k = K8; k < n; k++) s0 += bf16ToF32(load<u16>(w + (<usize>k << 1))) * load<f32>(x + (<usize>k << 2));
  return s0;
}

/**
 * One token: out[r] = W[r] · x + bias[r] for rows [r0, r1) of W (ld rows in all, bf16 block-major and
 * interleaved). Block by block: all rows over one block of x (8 KB), partial sums kept in `out`.
 */
function matvecBf16(out: usize, x: usize, W: usize, bias: usize, inF: i32, ld: i32, r0: i32, r1: i32): void {
  const bw = bf16BlockCols(inF);
  const rowBytes = <usize>bw * 2, blockBytes = <usize>bw * <usize>ld * 2;
  for (let k0 = 0, b = 0; k0 < inF; k0 += bw, b++) {
    const n = min(bw, inF - k0);
    const first = k0 == 0, last = k0 + n == inF;
    const base = W + <usize>b * blockBytes, xb = x + (<usize>k0 << 2);
    for (let r = r0; r < r1; r++) {
      let s0 = dotBf16(base + <usize>r * rowBytes, xb, n);
      const o = out + (<usize>r << 2);
      if (!first) s0 = load<f32>(o) + s0;
      if (last && bias) s0 += load<f32>(bias + (<usize>r << 2));
      store<f32>(o, s0);
    }
  }
}

/**
 * Rows per block in the prefill loop order, for rows of `rowBytes` stored bytes: the block's weights (~128 KB)
 * stay in L2 while every 4-token group of the chunk passes over them, so a chunk of L tokens streams the matrix
 * from memory once instead of L/4 times. Token groups outside (the old order) left the 7B's prefill memory-bound:
 * in_proj at 17 GMAC/s on 2 threads against 36 on the small shape, whose 4 MB matrices stay in cache.
 * Every output is computed by the same tile as before, so the order changes no bits. Even, so row pairs stay whole.
 */
// @ts-ignore: decorator
@inline export function prefillRowBlock(rowBytes: i32): i32 {
  return max(2, ((128 << 10) / max(rowBytes, 1)) & ~1);
}

/**
 * 2 tokens × 2 rows register tile: out rows r, r+1 of tokens t, t+1 (x rows xs apart, out rows os apart), the
 * accumulators running on across the column blocks. Summation order, per output: for each group of 8 columns
 * (in block order), g = lo·x[k..k+3] + hi·x[k+4..k+7] lane-wise (`madd(hi, x_hi, lo·x_lo)`: one fused multiply-add
 * in the relaxed build), then acc += g; then the 4 lanes by `hsum`, the < 8-column tail in order, the bias.
 *
 * Why this shape: each accumulator takes one add per 8 columns instead of two dependent multiply-adds, so the
 * loop is no longer bound by the 4-cycle FMA latency (4 tokens × 2 rows did acc = fma(hi, x, fma(lo, x, acc)):
 * 8 cycles per 8 columns per chain, ~1 FMA per cycle), and 4 accumulators + 6 loaded vectors + temporaries fit
 * the 15 vector registers V8 allocates on x64 (TurboFan places every load of an iteration first, so a 4 × 2 tile
 * with its 8 x vectors spilled accumulators to the stack). Measured one thread, 64 tokens (bench/prefill.ts):
 * 7B in_proj half (8192 × 4096) 12.8 → 17.5 GMAC/s, small out_proj (1024 × 2048) 13.1 → 19.4.
 */
// @ts-ignore: decorator
@inline function tileBf16(out: usize, os: usize, x: usize, xs: usize, W: usize, ld: i32, bias: usize, r: i32, inF: i32): void {
  const mask = i32x4.splat(0xffff0000);
  const bw = bf16BlockCols(inF);
  const rowBytes = <usize>bw * 2, blockBytes = <usize>bw * <usize>ld * 2;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let k0 = 0, b = 0, n = 0;
  for (; ; k0 += bw, b++) {
    n = min(bw, inF - k0);
    const w0 = W + <usize>b * blockBytes + <usize>r * rowBytes, w1 = w0 + rowBytes;
    const K8 = n & ~7;
    for (let k = 0; k < K8; k += 8) {
      const p = v128.load(w0 + (<usize>k << 1)), q = v128.load(w1 + (<usize>k << 1));
      const xp = x + (<usize>(k0 + k) << 2);
      const xa = v128.load(xp), xb = v128.load(xp + xs);
      const ya = v128.load(xp, 16), yb = v128.load(xp + xs, 16);
      const u = i32x4.shl(p, 16), v = i32x4.shl(q, 16);
      const u2 = v128.and(p, mask), v2 = v128.and(q, mask);
      c00 = f32x4.add(c00, madd(u2, ya, f32x4.mul(u, xa)));
      c01 = f32x4.add(c01, madd(v2, ya, f32x4.mul(v, xa)));
      c10 = f32x4.add(c10, madd(u2, yb, f32x4.mul(u, xb)));
      c11 = f32x4.add(c11, madd(v2, yb, f32x4.mul(v, xb)));
    }
    if (k0 + n >= inF) break;
  }
  let s00 = hsum(c00), s01 = hsum(c01), s10 = hsum(c10), s11 = hsum(c11);
  // The tail (< 8 columns, only ever in the last block), in order.
  const w0 = W + <usize>b * blockBytes + <usize>r * rowBytes, w1 = w0 + rowBytes;
  for (let k = n & ~7; k < n; k++) {
    const a = bf16ToF32(load<u16>(w0 + (<usize>k << 1)));
    const c = bf16ToF32(load<u16>(w1 + (<usize>k << 1)));
    const xp = x + (<usize>(k0 + k) << 2);
    const x0 = load<f32>(xp), x1 = load<f32>(xp + xs);
    s00 += a * x0; s01 += c * x0; s10 += a * x1; s11 += c * x1;
  }
  if (bias) {
    const b0 = load<f32>(bias + (<usize>r << 2)), b1 = load<f32>(bias + (<usize>r << 2), 4);
    s00 += b0; s10 += b0;
    s01 += b1; s11 += b1;
  }
  const o = out + (<usize>r << 2);
  store<f32>(o, s00); store<f32>(o, s01, 4);
  store<f32>(o + os, s10); store<f32>(o + os, s11, 4);
}

/**
 * out (L, outF)[:, r0:r1] = x (L, inF) @ W[r0:r1] (·, inF)ᵀ + bias, W bf16 block-major and interleaved
 * (`bf16Interleave`) with `ld` rows in all (a slice of a larger matrix's rows: W points at its first row).
 */
export function linearBf16Rows(out: usize, x: usize, W: usize, bias: usize, L: i32, inF: i32, outF: i32, ld: i32, r0: i32, r1: i32): void {
  const xs = <usize>inF * 4, os = <usize>outF * 4;
  const L2 = L & ~1;
  // Prefill: row blocks outside, token pairs inside (see `prefillRowBlock`).
  const RB = prefillRowBlock(inF * 2);
  for (let rb = r0; L2 > 0 && rb < r1; rb += RB) {
    const re = min(r1, rb + RB);
    for (let t = 0; t < L2; t += 2) {
      const xt = x + <usize>t * xs, ot = out + <usize>t * os;
      let r = rb;
      for (; r + 2 <= re; r += 2) tileBf16(ot, os, xt, xs, W, ld, bias, r, inF);
      // An odd last row: one token at a time.
      if (r < re) for (let j = 0; j < 2; j++) matvecBf16(ot + <usize>j * os, xt + <usize>j * xs, W, bias, inF, ld, r, re);
    }
  }
  if (L2 < L) matvecBf16(out + <usize>L2 * os, x + <usize>L2 * xs, W, bias, inF, ld, r0, r1);
}

/**
 * Rows of a matrix per chunk of the batched-decode loops (quant.ts `linearQBatchRows`): about 16 KB of weights,
 * which stay in L1 while every group of tokens passes over them; at least 2 and even (q8/q4 row pairs stay whole).
 */
// @ts-ignore: decorator
@inline export function batchRowChunk(rowBytes: i32): i32 {
  return max(2, ((16 << 10) / max(rowBytes, 1)) & ~1);
}

/** One token's step of {@link tileRowBf16}: acc + (hi·x[k+4..k+7] + lo·x[k..k+3]) for the weights lo, hi of 8 columns at xp. */
// @ts-ignore: decorator
@inline function rowStep(acc: v128, lo: v128, hi: v128, xp: usize): v128 {
  return f32x4.add(acc, madd(hi, v128.load(xp, 16), f32x4.mul(lo, v128.load(xp))));
}

/** Lanes summed, then the < 8-column tail of row w (n columns, tail from `k8`) in order, the bias; stored. */
// @ts-ignore: decorator
@inline function rowFinish(acc: v128, w: usize, x: usize, k8: i32, n: i32, bv: f32, o: usize): void {
  let s = hsum(acc);
  for (let k = k8; k < n; k++) s += bf16ToF32(load<u16>(w + (<usize>k << 1))) * load<f32>(x + (<usize>k << 2));
  store<f32>(o, s + bv);
}

/**
 * Row r of W against `n` (1 to 4: a constant, folded by the inlining) tokens whose x rows are `xs` apart, out rows `os`
 * apart: the row's weights are loaded and widened once per 8 columns and used for every token, one sequential
 * read of the row. Per output the order of the prefill tile `tileBf16`: per group of 8 columns (in block order)
 * g = hi·x_hi + lo·x_lo (`madd`), acc += g; then `hsum`, the < 8-column tail in order, the bias; so a token's
 * bits do not depend on the batch it is in, nor on its place there.
 */
// @ts-ignore: decorator
@inline function tileRowBf16(out: usize, os: usize, x: usize, xs: usize, W: usize, ld: i32, bias: usize, r: i32, inF: i32, n: i32): void {
  const mask = i32x4.splat(0xffff0000);
  const bw = bf16BlockCols(inF);
  const rowBytes = <usize>bw * 2, blockBytes = <usize>bw * <usize>ld * 2;
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let k0 = 0, b = 0, m = 0;
  for (; ; k0 += bw, b++) {
    m = min(bw, inF - k0);
    const w = W + <usize>b * blockBytes + <usize>r * rowBytes;
    const wEnd = w + (<usize>(m & ~7) << 1);
    let xp = x + (<usize>k0 << 2);
    for (let p = w; p < wEnd; p += 16, xp += 32) {
      const v = v128.load(p);
      const lo = i32x4.shl(v, 16), hi = v128.and(v, mask);
      c0 = rowStep(c0, lo, hi, xp);
      if (n > 1) c1 = rowStep(c1, lo, hi, xp + xs);
      if (n > 2) c2 = rowStep(c2, lo, hi, xp + 2 * xs);
      if (n > 3) c3 = rowStep(c3, lo, hi, xp + 3 * xs);
    }
    if (k0 + m >= inF) break;
  }
  const w = W + <usize>b * blockBytes + <usize>r * rowBytes, xk = x + (<usize>k0 << 2), k8 = m & ~7;
  const bv: f32 = bias ? load<f32>(bias + (<usize>r << 2)) : 0;
  const o = out + (<usize>r << 2);
  rowFinish(c0, w, xk, k8, m, bv, o);
  if (n > 1) rowFinish(c1, w, xk + xs, k8, m, bv, o + os);
  if (n > 2) rowFinish(c2, w, xk + 2 * xs, k8, m, bv, o + 2 * os);
  if (n > 3) rowFinish(c3, w, xk + 3 * xs, k8, m, bv, o + 3 * os);
}

/**
 * Batched decode: out (L, outF)[:, r0:r1] = x (L, inF) @ W[r0:r1]ᵀ + bias for L rows that are one token each of L
 * sequences (`Model.stepBatch`). Row by row, the tokens in groups of 4 (the last group 1 to 4) by {@link tileRowBf16}:
 * the row streams from memory once for the first group and is read from L1 for the others. Each output has the
 * summation order of the prefill tile (not the decode matvec's 8 accumulators), the same whatever L and the
 * token's place. Why not the prefill tile itself: its 2 rows × 2 tokens read two rows at once, and from memory
 * (decode: the small shape's 440 MB) it ran at a quarter of its in-cache rate, a third of the matvec's
 * (bench/step-profile.ts --batch 2); the matvec over each token (the chunk in L1) is bound by its own
 * arithmetic, the same time per token as alone.
 */
export function linearBf16BatchRows(out: usize, x: usize, W: usize, bias: usize, L: i32, inF: i32, outF: i32, ld: i32, r0: i32, r1: i32): void {
  const xs = <usize>inF * 4, os = <usize>outF * 4;
  const L4 = L & ~3, rem = L - L4;
  const xr = x + <usize>L4 * xs, or = out + <usize>L4 * os;
  for (let r = r0; r < r1; r++) {
    for (let t = 0; t < L4; t += 4) tileRowBf16(out + <usize>t * os, os, x + <usize>t * xs, xs, W, ld, bias, r, inF, 4);
    if (rem == 1) tileRowBf16(or, os, xr, xs, W, ld, bias, r, inF, 1);
    else if (rem == 2) tileRowBf16(or, os, xr, xs, W, ld, bias, r, inF, 2);
    else if (rem == 3) tileRowBf16(or, os, xr, xs, W, ld, bias, r, inF, 3);
  }
}

/** out (L, outF) = x (L, inF) @ W (outF, inF)ᵀ + bias (outF), W bf16 block-major and interleaved; `bias = 0` for none. */
export function linearBf16(out: usize, x: usize, W: usize, bias: usize, L: i32, inF: i32, outF: i32): void {
  linearBf16Rows(out, x, W, bias, L, inF, outF, outF, 0, outF);
}

// ------------------------------------------------------------------------------------------- f32 and f16
// One generic body; T = f32 for f32 weights, u16 for f16 weights (widened in registers, exact).

// @ts-ignore: decorator
@inline function w4<T>(p: usize): v128 {
  if (isFloat<T>()) return v128.load(p);
  else return f16x4ToF32(v128.load16x4_u(p));
}

// @ts-ignore: decorator
@inline function w1<T>(p: usize): f32 {
  if (isFloat<T>()) return load<f32>(p);
  else return f16ToF32(load<u16>(p));
}

function matvecGen<T>(out: usize, x: usize, W: usize, bias: usize, inF: i32, r0: i32, r1: i32): void {
  const sz = <usize>sizeof<T>();
  const K8 = inF & ~7;
  const rowBytes = <usize>inF * sz;
  for (let r = r0; r < r1; r++) {
    const w0 = W + <usize>r * rowBytes;
    let a0 = f32x4.splat(0), b0 = f32x4.splat(0);
    for (let k = 0; k < K8; k += 8) {
      a0 = f32x4.add(a0, f32x4.mul(w4<T>(w0 + <usize>k * sz), v128.load(x + (<usize>k << 2))));
      b0 = f32x4.add(b0, f32x4.mul(w4<T>(w0 + <usize>(k + 4) * sz), v128.load(x + (<usize>k << 2), 16)));
    }
    let s0 = hsum(f32x4.add(a0, b0));
    for (let k = K8; k < inF; k++) s0 += w1<T>(w0 + <usize>k * sz) * load<f32>(x + (<usize>k << 2));
    if (bias) s0 += load<f32>(bias + (<usize>r << 2));
    store<f32>(out + (<usize>r << 2), s0);
  }
}

function linearGenRows<T>(out: usize, x: usize, W: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  const sz = <usize>sizeof<T>();
  const xs = <usize>inF * 4, os = <usize>outF * 4, rowBytes = <usize>inF * sz;
  const K4 = inF & ~3;
  const L4 = L & ~3;
  const RB = prefillRowBlock(inF * <i32>sz);
  for (let rb = r0; L4 > 0 && rb < r1; rb += RB) {
    const re = min(r1, rb + RB);
    for (let t = 0; t < L4; t += 4) {
    const xt = x + <usize>t * xs, ot = out + <usize>t * os;
    let r = rb;
    for (; r + 2 <= re; r += 2) {
      const w0 = W + <usize>r * rowBytes, w1p = w0 + rowBytes;
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) {
        const p = w4<T>(w0 + <usize>k * sz), q = w4<T>(w1p + <usize>k * sz);
        let xp = xt + (<usize>k << 2);
        let xa = v128.load(xp);
        c00 = madd(p, xa, c00); c01 = madd(q, xa, c01);
        xa = v128.load(xp + xs);
        c10 = madd(p, xa, c10); c11 = madd(q, xa, c11);
        xa = v128.load(xp + 2 * xs);
        c20 = madd(p, xa, c20); c21 = madd(q, xa, c21);
        xa = v128.load(xp + 3 * xs);
        c30 = madd(p, xa, c30); c31 = madd(q, xa, c31);
      }
      let s00 = hsum(c00), s01 = hsum(c01), s10 = hsum(c10), s11 = hsum(c11);
      let s20 = hsum(c20), s21 = hsum(c21), s30 = hsum(c30), s31 = hsum(c31);
      for (let k = K4; k < inF; k++) {
        const a = w1<T>(w0 + <usize>k * sz), b = w1<T>(w1p + <usize>k * sz);
        const xp = xt + (<usize>k << 2);
        const x0 = load<f32>(xp), x1 = load<f32>(xp + xs), x2 = load<f32>(xp + 2 * xs), x3 = load<f32>(xp + 3 * xs);
        s00 += a * x0; s01 += b * x0; s10 += a * x1; s11 += b * x1;
        s20 += a * x2; s21 += b * x2; s30 += a * x3; s31 += b * x3;
      }
      if (bias) {
        const b0 = load<f32>(bias + (<usize>r << 2)), b1 = load<f32>(bias + (<usize>r << 2), 4);
        s00 += b0; s10 += b0; s20 += b0; s30 += b0;
        s01 += b1; s11 += b1; s21 += b1; s31 += b1;
      }
      const o = ot + (<usize>r << 2);
      store<f32>(o, s00); store<f32>(o, s01, 4);
      store<f32>(o + os, s10); store<f32>(o + os, s11, 4);
      store<f32>(o + 2 * os, s20); store<f32>(o + 2 * os, s21, 4);
      store<f32>(o + 3 * os, s30); store<f32>(o + 3 * os, s31, 4);
    }
    if (r < re) for (let j = 0; j < 4; j++) matvecGen<T>(ot + <usize>j * os, xt + <usize>j * xs, W, bias, inF, r, re);
    }
  }
  for (let t = L4; t < L; t++) matvecGen<T>(out + <usize>t * os, x + <usize>t * xs, W, bias, inF, r0, r1);
}

/** out (L, outF)[:, r0:r1] = x (L, inF) @ W[r0:r1] (·, inF)ᵀ + bias, W f32. */
export function linearF32Rows(out: usize, x: usize, W: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  linearGenRows<f32>(out, x, W, bias, L, inF, outF, r0, r1);
}

/** out (L, outF) = x (L, inF) @ W (outF, inF)ᵀ + bias (outF), W f32; `bias = 0` for none. */
export function linearF32(out: usize, x: usize, W: usize, bias: usize, L: i32, inF: i32, outF: i32): void {
  linearGenRows<f32>(out, x, W, bias, L, inF, outF, 0, outF);
}

/** out (L, outF)[:, r0:r1] = x (L, inF) @ W[r0:r1] (·, inF)ᵀ + bias, W f16 (natural layout). */
export function linearF16Rows(out: usize, x: usize, W: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  linearGenRows<u16>(out, x, W, bias, L, inF, outF, r0, r1);
}

/** out (L, outF) = x (L, inF) @ W (outF, inF)ᵀ + bias (outF), W f16; `bias = 0` for none. */
export function linearF16(out: usize, x: usize, W: usize, bias: usize, L: i32, inF: i32, outF: i32): void {
  linearGenRows<u16>(out, x, W, bias, L, inF, outF, 0, outF);
}
