// Block-quantized linear layers (docs/quantization.md): weights in Q8_0 / Q4_0 blocks of 32 with an f32 scale each, the
// activation quantized per block of 32 to int8 (stored as int8, widened to int16 as it is loaded), and the block dot done in integers with
// `i32x4.dot_i16x8_s` (llama.cpp's Q8_0 × Q8_0 scheme), scaled by d_w·d_x in f32.
// Twins of `quantizeActivationQ8` / `linearQInt` in src/reference/quant.ts; the layouts are described there and
// in docs/quantization.md:
//   blocks of row pairs interleaved: block (r, b) is block number k = (r − r%2)·nb + 2b + r%2 (rows padded to even);
//   wq  q8: 32 int8 per block at 32·k; q4: 16 bytes per block at 16·k, q[j] in the low nibble and q[j+16] in the
//       high nibble of byte j, value d·(q − 8);
//   wd  f32 block scales at 4·k;  xq (L, nb·32) int8;  xd (L, nb) f32;  nb = ceil(inF / 32).
// Padding columns are zero in both operands, so the dot loops run over whole blocks and need no scalar tail;
// the scalar tails are in the activation quantizer (a partial last block) and the one-row loop (a row alone).
//
// Decode (L = 1) does one interleaved row pair per pass (two blocks per iteration), so each activation block loaded serves both rows and
// the weights are one sequential stream (two separate rows 4 KiB apart measured 2× slower from DRAM; one row per
// pass with 4 blocks' sums transposed before scaling, 16% slower: bench/quant.ts); prefill (L > 1) does
// 1 row × 4 tokens so each weight block, once loaded and widened, is used 4 times (4 widened weight vectors +
// 4 accumulators + temporaries fit V8's 16 vector registers).
// Each `linearQ*` has a `…Rows` form computing output rows [r0, r1) only (row stride still outF) for threads.

import { bf16ToF32, f16ToF32, hsum, madd } from './common';
import { batchRowChunk, prefillRowBlock } from './linear';


/**
 * xq (L, nb·32) int8, xd (L, nb) f32 = Q8 blocks of x (L, n): d = max|x|/127, q = nearest(x · (1/d)).
 * Twin of `quantizeActivationQ8` (bit-exact). Padding columns of the last block are written as 0.
 */
export function quantizeActivationQ8(xq: usize, xd: usize, x: usize, L: i32, n: i32): void {
  const nb = (n + 31) >> 5;
  const full = n >> 5; // blocks with 32 real values
  const absMask = i32x4.splat(0x7fffffff);
  for (let t = 0; t < L; t++) {
    const xr = x + <usize>t * <usize>n * 4;
    const qr = xq + <usize>t * <usize>nb * 32;
    const dr = xd + <usize>t * <usize>nb * 4;
    for (let b = 0; b < full; b++) {
      const p = xr + (<usize>b << 7);
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      const v4 = v128.load(p, 64), v5 = v128.load(p, 80), v6 = v128.load(p, 96), v7 = v128.load(p, 112);
      let m = f32x4.max(f32x4.max(v128.and(v0, absMask), v128.and(v1, absMask)), f32x4.max(v128.and(v2, absMask), v128.and(v3, absMask)));
      m = f32x4.max(m, f32x4.max(f32x4.max(v128.and(v4, absMask), v128.and(v5, absMask)), f32x4.max(v128.and(v6, absMask), v128.and(v7, absMask))));
      const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const d: f32 = amax / 127;
      const id: f32 = d == 0 ? 0 : <f32>1 / d;
      store<f32>(dr + (<usize>b << 2), d);
      const s = f32x4.splat(id);
      const q = qr + (<usize>b << 5);
      const q0 = i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, s))), i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, s))));
      const q1 = i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, s))), i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, s))));
      const q2 = i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v4, s))), i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v5, s))));
      const q3 = i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v6, s))), i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v7, s))));
      // |q| ≤ 127, so narrowing to 8 bits is exact.
      v128.store(q, i8x16.narrow_i16x8_s(q0, q1));
      v128.store(q, i8x16.narrow_i16x8_s(q2, q3), 16);
    }
    if (full < nb) {
      // Scalar tail: the partial last block (n % 32 values), zero-padded.
      const c0 = full << 5;
      let amax: f32 = 0;
      for (let c = c0; c < n; c++) amax = max(amax, abs(load<f32>(xr + (<usize>c << 2))));
      const d: f32 = amax / 127;
      const id: f32 = d == 0 ? 0 : <f32>1 / d;
      store<f32>(dr + (<usize>full << 2), d);
      for (let c = c0; c < c0 + 32; c++) {
        const v: f32 = c < n ? nearest<f32>(load<f32>(xr + (<usize>c << 2)) * id) : 0;
        store<i8>(qr + <usize>c, <i8>(<i32>v));
      }
    }
  }
}

/**
 * {@link quantizeActivationQ8} over rows (tokens) [r0, r1) of x only: rows are quantized independently, so a
 * thread pool splits a prefill's activation by token ranges (any bounds give the bits of one call over all rows).
 */
export function quantizeActivationQ8Rows(xq: usize, xd: usize, x: usize, L: i32, n: i32, r0: i32, r1: i32): void {
  const nb = (n + 31) >> 5;
  quantizeActivationQ8(xq + <usize>r0 * <usize>nb * 32, xd + <usize>r0 * <usize>nb * 4, x + <usize>r0 * <usize>n * 4, r1 - r0, n);
}

// ------------------------------------------------------------------------------------------- q8 and q4
// One generic body for both formats. Q = i8: q8 (32-byte blocks of int8); Q = u8: q4 (16-byte blocks of
// nibbles). What differs is inlined at compile time: the block size, and how a block's weights become the
// operands of the integer dot (`wOp`); the activation side (`xOp`) and the dot itself (`dotOps`) differ only for q4
// in the relaxed-SIMD build. Every block dot is an exact integer, so the two builds and both paths give the same
// block sums; only the f32 scaling (FMA in the relaxed build) rounds differently.
//
// The operands, per block of 32 columns (j = 0..3 are columns 8j..8j+7; in the relaxed q4 path j = 0, 1 are
// columns 0–15, 16–31):
//   plain (both formats) and q8 relaxed: weights as i16x8, widened by `load8x8_s` (q8: load and sign-extend in
//     one instruction) or from the q4 nibbles minus 8; the activation widened by `load8x8_s`; 4 `dot_i16x8_s`.
//   q4 relaxed: the nibbles q ∈ [0, 15] are a valid 7-bit operand of `i16x8.relaxed_dot_i8x16_i7x16_s` with the
//     int8 activation as the signed one (deterministic for b ∈ [0, 127]; checked bit-exact against the twin), so
//     Σ x·q takes 2 instructions per 32 columns with no widening; Σ x·(q − 8) = Σ x·q − 8·Σ x, the correction
//     computed once per token and block and shared by the rows of a pass. i16 is wide enough: |pair sums| ≤
//     2·(2·128·15) + 2·(2·128·8) < 2¹⁵. (The i32x4 `…_add_s` form is wrong in Node 20's V8: docs/kernels.md.)

/** Bytes per block: q8 32, q4 16. */
// @ts-ignore: decorator
@inline function BS<Q>(): usize {
  return isSigned<Q>() ? 32 : 16;
}

/** Whether this build takes the 7-bit relaxed dot for Q (q4 in the relaxed-SIMD build). */
// @ts-ignore: decorator
@inline function relaxedQ4<Q>(): bool {
  return !isSigned<Q>() && ASC_FEATURE_RELAXED_SIMD;
}

/** A q4 block's 16 bytes → its weights q − 8 as i8x16: columns 0–15 (low nibbles), 16–31 (high nibbles). */
// @ts-ignore: decorator
@inline function q4Lo(v: v128): v128 {
  return i8x16.sub(v128.and(v, i8x16.splat(15)), i8x16.splat(8));
}
// @ts-ignore: decorator
@inline function q4Hi(v: v128): v128 {
  return i8x16.sub(v128.and(i16x8.shr_u(v, 4), i8x16.splat(15)), i8x16.splat(8));
}

/** The raw bytes a block's operands are made from: q4 its 16 bytes (loaded once), q8 nothing (`wOp` loads). */
// @ts-ignore: decorator
@inline function wRaw<Q>(w: usize): v128 {
  if (isSigned<Q>()) return i32x4.splat(0);
  return v128.load(w);
}

/** Weight operand j of the block at w (raw = `wRaw<Q>(w)`): the block-widening step shared by every kernel. */
// @ts-ignore: decorator
@inline function wOp<Q>(w: usize, raw: v128, j: i32): v128 {
  if (isSigned<Q>()) return v128.load8x8_s(w + (<usize>j << 3));
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (j == 0) return v128.and(raw, i8x16.splat(15));
    return v128.and(i16x8.shr_u(raw, 4), i8x16.splat(15));
  }
  const n = j < 2 ? q4Lo(raw) : q4Hi(raw);
  return j & 1 ? i16x8.extend_high_i8x16_s(n) : i16x8.extend_low_i8x16_s(n);
}

/** The block's integer dot from its operands: 4 exact partial sums (i32x4) whose total is Σ_j q_w·q_x. */
// @ts-ignore: decorator
@inline function dotOps<Q>(w0: v128, w1: v128, w2: v128, w3: v128, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  if (relaxedQ4<Q>()) {
    const s = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, w0), i16x8.relaxed_dot_i8x16_i7x16_s(x1, w1));
    return i32x4.dot_i16x8_s(i16x8.sub(s, x2), i16x8.splat(1));
  }
  return i32x4.add(i32x4.add(i32x4.dot_i16x8_s(w0, x0), i32x4.dot_i16x8_s(w1, x1)), i32x4.add(i32x4.dot_i16x8_s(w2, x2), i32x4.dot_i16x8_s(w3, x3)));
}

/** The integer dot of the weight block at w with the activation operands x0..x3. */
// @ts-ignore: decorator
@inline function blockDot<Q>(w: usize, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const raw = wRaw<Q>(w);
  return dotOps<Q>(wOp<Q>(w, raw, 0), wOp<Q>(w, raw, 1), wOp<Q>(w, raw, 2), wOp<Q>(w, raw, 3), x0, x1, x2, x3);
}

/** Byte offset of row r's first block in the pair layout (bs = bytes per block); its blocks are 2·bs apart. */
// @ts-ignore: decorator
@inline function rowBase(nb: i32, r: i32, bs: usize): usize {
  return <usize>(r & ~1) * <usize>nb * bs + <usize>(r & 1) * bs;
}

/** `v128.load8x8_s` at p + 8·k, k a compile-time constant 0..7 (an immediate offset: no address arithmetic). */
// @ts-ignore: decorator
@inline function ld8x8s(p: usize, k: i32): v128 {
  if (k == 0) return v128.load8x8_s(p, 0);
  if (k == 1) return v128.load8x8_s(p, 8);
  if (k == 2) return v128.load8x8_s(p, 16);
  if (k == 3) return v128.load8x8_s(p, 24);
  if (k == 4) return v128.load8x8_s(p, 32);
  if (k == 5) return v128.load8x8_s(p, 40);
  if (k == 6) return v128.load8x8_s(p, 48);
  return v128.load8x8_s(p, 56);
}

/** `v128.load` at p + 16·k, k a compile-time constant 0..3. */
// @ts-ignore: decorator
@inline function ld128(p: usize, k: i32): v128 {
  if (k == 0) return v128.load(p, 0);
  if (k == 1) return v128.load(p, 16);
  if (k == 2) return v128.load(p, 32);
  return v128.load(p, 48);
}

/**
 * Weight operand j of row h (0, 1) of the pair block at w: `wOp` with immediate offsets. q8's row 1 is addressed
 * from w + 32 with the offsets of row 0, so a pass uses 4 distinct offsets (0, 8, 16, 24, shared with the
 * activation's loads): V8 keeps `memory base + offset` of each `load8x8_s` offset in a register, and 8 of them
 * had spilled the loop's pointers (17 stack accesses per iteration, 8 with 4 offsets; 1-thread 7B q8 1.17×).
 */
// @ts-ignore: decorator
@inline function wOpPair<Q>(w: usize, raw: v128, h: i32, j: i32): v128 {
  if (isSigned<Q>()) return ld8x8s(h ? w + 32 : w, j);
  return wOp<Q>(w, raw, j);
}

/** The raw bytes of row h of the pair block at w (q4: 16 bytes; q8: nothing). */
// @ts-ignore: decorator
@inline function wRawPair<Q>(w: usize, h: i32): v128 {
  if (isSigned<Q>()) return i32x4.splat(0);
  return ld128(w, h);
}

/**
 * Activation operand j (a compile-time constant 0..3) of the int8 block at x, loaded with an immediate offset:
 * widened to i16 (`load8x8_s`), or in the relaxed q4 path j = 0, 1 the raw 16 bytes and j = 2 the correction
 * 8·(x[2i] + x[2i+1]) per i16 lane (the 8 is a 7-bit operand too).
 */
// @ts-ignore: decorator
@inline function xOp<Q>(x: usize, j: i32): v128 {
  if (relaxedQ4<Q>()) {
    if (j < 2) return ld128(x, j);
    const e = i8x16.splat(8);
    return i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x), e), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x, 16), e));
  }
  return ld8x8s(x, j);
}

/** The integer dot of row h of the pair block at w with the activation operands. */
// @ts-ignore: decorator
@inline function pairDot<Q>(w: usize, h: i32, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const raw = wRawPair<Q>(w, h);
  return dotOps<Q>(wOpPair<Q>(w, raw, h, 0), wOpPair<Q>(w, raw, h, 1), wOpPair<Q>(w, raw, h, 2), wOpPair<Q>(w, raw, h, 3), x0, x1, x2, x3);
}

/**
 * One token: out[r] = Σ_b wd[r,b]·xd[b]·(wq[r,b] · xq[b]) + bias[r] for r in [r0, r1). Two rows (one interleaved
 * pair) per pass, sharing the activation operands; a row alone (odd r0 or r1) goes through the one-row loop.
 *
 * Written for V8's code generator (counted with `node --print-wasm-code`, Node 20): the pointers advance by
 * addition and every load takes an immediate offset (V8 had recomputed the pair base and each `base + 8j` with
 * scalar instructions: ~95 x64 instructions per q8 pair block, 60 of them scalar); after each row's step, lane 0
 * of its accumulator is stored to its output cell (overwritten by the final value) — a store is an effect, so
 * TurboFan finishes one row's step before the next row's loads instead of placing all of a block's loads first and
 * spilling an accumulator to the stack every block; two blocks per iteration halve the loop's own instructions
 * (counter updates, V8's stack check). Per output the steps are those of `tileStep` (acc += f32(block dot)·(d_x·d_w)
 * per block in order, `hsum`, then the bias), so a row is the same bits here as in the prefill tile and under any
 * row split. Measured in bench/quant-decode.ts (docs/kernels.md).
 */
function matvecQ<Q>(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, r0: i32, r1: i32): void {
  const bs = BS<Q>();
  let r = r0;
  if (r & 1 && r < r1) {
    matvecQRow<Q>(out, xq, xd, wq, wd, bias, nb, r);
    r++;
  }
  for (; r + 2 <= r1; r += 2) {
    let w = wq + <usize>r * <usize>nb * bs; // r even: the pair's first byte
    let sp = wd + <usize>r * <usize>nb * 4;
    const wEnd = w + <usize>nb * 2 * bs;
    const wEnd2 = wEnd - 2 * bs; // two blocks per iteration while two are left
    let xp = xq, dp = xd;
    let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
    const op = out + (<usize>r << 2);
    for (; w < wEnd2; w += 4 * bs, xp += 64, dp += 8, sp += 16) {
      let x0 = xOp<Q>(xp, 0), x1 = xOp<Q>(xp, 1), x2 = xOp<Q>(xp, 2), x3 = xOp<Q>(xp, 3);
      let sx = v128.load32_splat(dp);
      acc0 = madd(f32x4.convert_i32x4_s(pairDot<Q>(w, 0, x0, x1, x2, x3)), f32x4.mul(sx, v128.load32_splat(sp)), acc0);
      v128.store32_lane(op, acc0, 0);
      acc1 = madd(f32x4.convert_i32x4_s(pairDot<Q>(w, 1, x0, x1, x2, x3)), f32x4.mul(sx, v128.load32_splat(sp, 4)), acc1);
      v128.store32_lane(op, acc1, 0, 4);
      const xq1 = xp + 32, w1 = w + 2 * bs;
      x0 = xOp<Q>(xq1, 0); x1 = xOp<Q>(xq1, 1); x2 = xOp<Q>(xq1, 2); x3 = xOp<Q>(xq1, 3);
      sx = v128.load32_splat(dp, 4);
      acc0 = madd(f32x4.convert_i32x4_s(pairDot<Q>(w1, 0, x0, x1, x2, x3)), f32x4.mul(sx, v128.load32_splat(sp, 8)), acc0);
      v128.store32_lane(op, acc0, 0);
      acc1 = madd(f32x4.convert_i32x4_s(pairDot<Q>(w1, 1, x0, x1, x2, x3)), f32x4.mul(sx, v128.load32_splat(sp, 12)), acc1);
      v128.store32_lane(op, acc1, 0, 4);
    }
    if (w < wEnd) {
      // The last block of an odd count.
      const x0 = xOp<Q>(xp, 0), x1 = xOp<Q>(xp, 1), x2 = xOp<Q>(xp, 2), x3 = xOp<Q>(xp, 3);
      const sx = v128.load32_splat(dp);
      acc0 = madd(f32x4.convert_i32x4_s(pairDot<Q>(w, 0, x0, x1, x2, x3)), f32x4.mul(sx, v128.load32_splat(sp)), acc0);
      acc1 = madd(f32x4.convert_i32x4_s(pairDot<Q>(w, 1, x0, x1, x2, x3)), f32x4.mul(sx, v128.load32_splat(sp, 4)), acc1);
    }
    let y0 = hsum(acc0), y1 = hsum(acc1);
    if (bias) {
      y0 += load<f32>(bias + (<usize>r << 2));
      y1 += load<f32>(bias + (<usize>r << 2), 4);
    }
    store<f32>(op, y0);
    store<f32>(op, y1, 4);
  }
  if (r < r1) matvecQRow<Q>(out, xq, xd, wq, wd, bias, nb, r);
}

/** One token, one row r (blocks 2·BS apart in the pair layout). */
function matvecQRow<Q>(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, r: i32): void {
  const bs = BS<Q>();
  const w = wq + rowBase(nb, r, bs);
  const s = wd + rowBase(nb, r, 4);
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const xp = xq + (<usize>b << 5);
    const sc = f32x4.mul(v128.load32_splat(xd + (<usize>b << 2)), v128.load32_splat(s + (<usize>b << 3)));
    const i = blockDot<Q>(w + <usize>b * 2 * bs, xOp<Q>(xp, 0), xOp<Q>(xp, 1), xOp<Q>(xp, 2), xOp<Q>(xp, 3));
    acc = madd(f32x4.convert_i32x4_s(i), sc, acc);
  }
  let y = hsum(acc);
  if (bias) y += load<f32>(bias + (<usize>r << 2));
  store<f32>(out + (<usize>r << 2), y);
}

/** acc + (d_x · d_w) · Σ block dot of token operands at xp against the prepared weight operands. */
// @ts-ignore: decorator
@inline function tileStep<Q>(acc: v128, xp: usize, dp: usize, sw: v128, e0: v128, e1: v128, e2: v128, e3: v128): v128 {
  const i = dotOps<Q>(e0, e1, e2, e3, xOp<Q>(xp, 0), xOp<Q>(xp, 1), xOp<Q>(xp, 2), xOp<Q>(xp, 3));
  return madd(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw), acc);
}

/**
 * 4 tokens × rows [r0, r1): out (4, outF) rows = the 4 quantized activations at xq/xd against each weight row;
 * each weight block's operands are made once and used for the 4 tokens. Per output the same steps in the same
 * order as `matvecQ` (acc += f32(block dot)·(d_x·d_w) per block, then `hsum`, then the bias), so a token gives the
 * same bits here as alone.
 *
 * After each token's step, lane 0 of its accumulator is stored to that token's output (overwritten by the final
 * value): the store is an effect, so V8 must finish the step before the next token's loads. Without it TurboFan
 * places all ~25 loads of a block first and spills the widened operands to the stack (`node --print-wasm-code`).
 * The pointers advance by addition, not from the block index (V8 recomputed the row base per block). Measured
 * one thread, 64 tokens, against the unanchored tile in one run (bench/prefill.ts): q8 1.16–1.28×, q4 1.16–1.35×.
 */
function matmulQx4<Q>(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, outF: i32, r0: i32, r1: i32): void {
  matmulQxN<Q>(out, xq, xd, wq, wd, bias, nb, outF, r0, r1, 4);
}

/**
 * {@link matmulQx4} for `n` = 1 to 4 tokens (a constant, folded by the inlining): the tokens past n are not
 * touched. Each output the same steps as `matvecQ`.
 */
// @ts-ignore: decorator
@inline function matmulQxN<Q>(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, outF: i32, r0: i32, r1: i32, n: i32): void {
  const bs = BS<Q>();
  const xStride = <usize>nb << 5;
  const dStride = <usize>nb << 2;
  const oStride = <usize>outF << 2;
  for (let r = r0; r < r1; r++) {
    const w0 = wq + rowBase(nb, r, bs);
    const sp = wd + rowBase(nb, r, 4);
    const op = out + (<usize>r << 2);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    const wEnd = w0 + <usize>nb * 2 * bs;
    let xp = xq, dp = xd, spb = sp;
    for (let w = w0; w < wEnd; w += 2 * bs, xp += 32, dp += 4, spb += 8) {
      const raw = wRaw<Q>(w);
      const e0 = wOp<Q>(w, raw, 0), e1 = wOp<Q>(w, raw, 1), e2 = wOp<Q>(w, raw, 2), e3 = wOp<Q>(w, raw, 3);
      const sw = v128.load32_splat(spb);
      a0 = tileStep<Q>(a0, xp, dp, sw, e0, e1, e2, e3);
      v128.store32_lane(op, a0, 0);
      if (n > 1) {
        a1 = tileStep<Q>(a1, xp + xStride, dp + dStride, sw, e0, e1, e2, e3);
        v128.store32_lane(op + oStride, a1, 0);
      }
      if (n > 2) {
        a2 = tileStep<Q>(a2, xp + 2 * xStride, dp + 2 * dStride, sw, e0, e1, e2, e3);
        v128.store32_lane(op + 2 * oStride, a2, 0);
      }
      if (n > 3) {
        a3 = tileStep<Q>(a3, xp + 3 * xStride, dp + 3 * dStride, sw, e0, e1, e2, e3);
        v128.store32_lane(op + 3 * oStride, a3, 0);
      }
    }
    const bv: f32 = bias ? load<f32>(bias + (<usize>r << 2)) : 0;
    store<f32>(op, hsum(a0) + bv);
    if (n > 1) store<f32>(op + oStride, hsum(a1) + bv);
    if (n > 2) store<f32>(op + 2 * oStride, hsum(a2) + bv);
    if (n > 3) store<f32>(op + 3 * oStride, hsum(a3) + bv);
  }
}

/** out (L, outF) rows [r0, r1) = deq(xq, xd) (L, inF) @ deq(wq, wd) (outF, inF)ᵀ + bias. */
function linearQRows<Q>(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  const nb = (inF + 31) >> 5;
  const L4 = L & ~3;
  // Prefill: row blocks outside, 4-token groups inside, so the matrix streams from memory once per chunk
  // (linear.ts `prefillRowBlock`); each output is computed as before.
  const RB = prefillRowBlock(nb * (<i32>BS<Q>() + 4));
  for (let rb = r0; L4 > 0 && rb < r1; rb += RB) {
    const re = min(r1, rb + RB);
    for (let t = 0; t < L4; t += 4) {
      matmulQx4<Q>(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 32, xd + <usize>t * <usize>nb * 4, wq, wd, bias, nb, outF, rb, re);
    }
  }
  for (let t = L4; t < L; t++) {
    matvecQ<Q>(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 32, xd + <usize>t * <usize>nb * 4, wq, wd, bias, nb, r0, r1);
  }
}

/**
 * Batched decode (`Model.stepBatch`): the L rows of xq/xd are one token each of L sequences. Tokens in groups of
 * 4 (the last 1 to 4) by `matmulQxN`, each weight block widened once per group; with more than one group, in
 * chunks of ~16 KB of rows (linear.ts `batchRowChunk`) so the later groups read the chunk from L1: the matrix
 * streams from memory once per call. Every output takes the steps of the decode kernel `matvecQ`, so each token
 * gets the bits of its own `step`. (`linearQRows` at L = 2 or 3 ran the matvec once per token, a pass over the
 * matrix each, and L = 5 to 7 a tile pass plus one to three.)
 */
function linearQBatchRows<Q>(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  const nb = (inF + 31) >> 5;
  const xS = <usize>nb * 32, dS = <usize>nb * 4, oS = <usize>outF * 4;
  const L4 = L & ~3, rem = L - L4;
  const RC = L > 4 ? batchRowChunk(nb * (<i32>BS<Q>() + 4)) : r1 - r0;
  for (let rc = r0; rc < r1; rc += RC) {
    const re = min(r1, rc + RC);
    for (let t = 0; t < L4; t += 4) matmulQxN<Q>(out + <usize>t * oS, xq + <usize>t * xS, xd + <usize>t * dS, wq, wd, bias, nb, outF, rc, re, 4);
    const o = out + <usize>L4 * oS, x = xq + <usize>L4 * xS, d = xd + <usize>L4 * dS;
    if (rem == 1) matmulQxN<Q>(o, x, d, wq, wd, bias, nb, outF, rc, re, 1);
    else if (rem == 2) matmulQxN<Q>(o, x, d, wq, wd, bias, nb, outF, rc, re, 2);
    else if (rem == 3) matmulQxN<Q>(o, x, d, wq, wd, bias, nb, outF, rc, re, 3);
  }
}

/** {@link linearQ8Rows} for batched decode (see `linearQBatchRows`): each token's outputs are those of L = 1, bit for bit. */
export function linearQ8BatchRows(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  linearQBatchRows<i8>(out, xq, xd, wq, wd, bias, L, inF, outF, r0, r1);
}

/** {@link linearQ4Rows} for batched decode (see `linearQBatchRows`): each token's outputs are those of L = 1, bit for bit. */
export function linearQ4BatchRows(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  linearQBatchRows<u8>(out, xq, xd, wq, wd, bias, L, inF, outF, r0, r1);
}

/**
 * out (L, outF) rows [r0, r1) = deq(xq, xd) (L, inF) @ deq(wq, wd) (outF, inF)ᵀ + bias, Q8_0 weights.
 * Twin of `linearQInt` (kind 'q8') over rows [r0, r1); `bias = 0` for none.
 */
export function linearQ8Rows(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  linearQRows<i8>(out, xq, xd, wq, wd, bias, L, inF, outF, r0, r1);
}

/** out (L, outF) = deq(xq, xd) (L, inF) @ deq(wq, wd) (outF, inF)ᵀ + bias, Q8_0 weights. Twin of `linearQInt` ('q8'). */
export function linearQ8(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32): void {
  linearQRows<i8>(out, xq, xd, wq, wd, bias, L, inF, outF, 0, outF);
}

/** As {@link linearQ8Rows}, Q4_0 weights. Twin of `linearQInt` (kind 'q4') over rows [r0, r1). */
export function linearQ4Rows(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  linearQRows<u8>(out, xq, xd, wq, wd, bias, L, inF, outF, r0, r1);
}

/** out (L, outF) = deq(xq, xd) (L, inF) @ deq(wq, wd) (outF, inF)ᵀ + bias, Q4_0 weights. Twin of `linearQInt` ('q4'). */
export function linearQ4(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32): void {
  linearQRows<u8>(out, xq, xd, wq, wd, bias, L, inF, outF, 0, outF);
}

/**
 * The exact integer block dots behind {@link linearQ8Rows} / {@link linearQ4Rows}, for the specs: out (rows, nb)
 * i32 = Σ_j q_w[r, b, j] · q_x[t, b, j] of token t's activation against rows [0, rows), by the same inlined
 * operand and dot steps as the decode matvec (`xOp`, `pairDot`) (`kind` 8 = q8, 4 = q4). Twin of `blockDotsQ` (bit-exact).
 */
export function blockDotsQ(kind: i32, out: usize, xq: usize, wq: usize, nb: i32, rows: i32): void {
  if (kind == 8) blockDotsGen<i8>(out, xq, wq, nb, rows);
  else blockDotsGen<u8>(out, xq, wq, nb, rows);
}

function blockDotsGen<Q>(out: usize, xq: usize, wq: usize, nb: i32, rows: i32): void {
  const bs = BS<Q>();
  for (let r = 0; r < rows; r++) {
    const w = wq + <usize>(r & ~1) * <usize>nb * bs; // the pair's first byte; row r is row r & 1 of each pair block
    for (let b = 0; b < nb; b++) {
      const xp = xq + (<usize>b << 5);
      const wb = w + <usize>b * 2 * bs;
      const x0 = xOp<Q>(xp, 0), x1 = xOp<Q>(xp, 1), x2 = xOp<Q>(xp, 2), x3 = xOp<Q>(xp, 3);
      const i = r & 1 ? pairDot<Q>(wb, 1, x0, x1, x2, x3) : pairDot<Q>(wb, 0, x0, x1, x2, x3);
      const sum = (i32x4.extract_lane(i, 0) + i32x4.extract_lane(i, 1)) + (i32x4.extract_lane(i, 2) + i32x4.extract_lane(i, 3));
      store<i32>(out + ((<usize>r * <usize>nb + <usize>b) << 2), sum);
    }
  }
}

// --------------------------------------------------------------------------------------------------- embed

/**
 * out (L, H) = deq(wq, wd) (V, H)[ids (L)], Q8_0 table; `ids` points to L i32 values. Twin of `embed` on
 * `dequantize(Q)` (exact: each value is the f32 product d·q). Scalar: L·D values per call, negligible per token.
 */
export function embedQ8(out: usize, wq: usize, wd: usize, ids: usize, L: i32, D: i32): void {
  const nb = (D + 31) >> 5;
  for (let t = 0; t < L; t++) {
    const id = <usize>load<i32>(ids + (<usize>t << 2));
    const q = wq + rowBase(nb, <i32>id, 32);
    const s = wd + rowBase(nb, <i32>id, 4);
    const o = out + <usize>t * <usize>D * 4;
    for (let c = 0; c < D; c++) {
      const b = <usize>(c >> 5);
      store<f32>(o + (<usize>c << 2), load<f32>(s + (b << 3)) * <f32>load<i8>(q + (b << 6) + <usize>(c & 31)));
    }
  }
}

/** out (L, H) = deq(wq, wd) (V, H)[ids (L)], Q4_0 table (nibble layout of linearQ4). Twin of `embed` on `dequantize(Q)`. */
export function embedQ4(out: usize, wq: usize, wd: usize, ids: usize, L: i32, D: i32): void {
  const nb = (D + 31) >> 5;
  for (let t = 0; t < L; t++) {
    const id = <usize>load<i32>(ids + (<usize>t << 2));
    const q = wq + rowBase(nb, <i32>id, 16);
    const s = wd + rowBase(nb, <i32>id, 4);
    const o = out + <usize>t * <usize>D * 4;
    for (let c = 0; c < D; c++) {
      const j = c & 31;
      const b = <usize>(c >> 5);
      const byte = <i32>load<u8>(q + (b << 5) + <usize>(j & 15));
      const v = (j < 16 ? byte & 15 : byte >> 4) - 8;
      store<f32>(o + (<usize>c << 2), load<f32>(s + (b << 3)) * <f32>v);
    }
  }
}

// ------------------------------------------------------------------------------------------------ quantize

/** Element i of a row-major source of dtype 0 = f32, 1 = bf16 (plain, not `bf16Interleave`d), 2 = f16, as f64. */
// @ts-ignore: decorator
@inline function srcValue(W: usize, i: usize, dtype: i32): f64 {
  if (dtype == 0) return <f64>load<f32>(W + (i << 2));
  if (dtype == 1) return <f64>bf16ToF32(<u32>load<u16>(W + (i << 1)));
  return <f64>f16ToF32(<u32>load<u16>(W + (i << 1)));
}

/** JavaScript's `Math.round` (nearest, ties toward +∞) for the f64 v. */
// @ts-ignore: decorator
@inline function jsRound(v: f64): f64 {
  const r = Math.floor(v);
  return v - r >= 0.5 ? r + 1 : r;
}

/**
 * wq, wd (pair layout, paddedRows · nb blocks) = Q8_0 blocks of W (rows, cols) of source dtype 0 f32 / 1 bf16 /
 * 2 f16: the load-time quantizer. Twin of `quantizeQ8` (bit-exact: the same f64 arithmetic). wq, wd must be
 * zeroed beforehand for the padding (fresh memory is).
 */
export function quantizeQ8(wq: usize, wd: usize, W: usize, rows: i32, cols: i32, dtype: i32): void {
  quantizeQ8Rows(wq, wd, W, rows, cols, dtype, 0, rows);
}

/** {@link quantizeQ8} of rows [r0, r1) only: rows are independent, so the load splits them across threads. */
export function quantizeQ8Rows(wq: usize, wd: usize, W: usize, rows: i32, cols: i32, dtype: i32, r0: i32, r1: i32): void {
  const nb = (cols + 31) >> 5;
  for (let r = r0; r < r1; r++) {
    const q = wq + rowBase(nb, r, 32);
    const s = wd + rowBase(nb, r, 4);
    for (let b = 0; b < nb; b++) {
      const c0 = b << 5;
      const c1 = min(cols, c0 + 32);
      const row = <usize>r * <usize>cols;
      let amax: f64 = 0;
      for (let c = c0; c < c1; c++) amax = max(amax, Math.abs(srcValue(W, row + <usize>c, dtype)));
      const d = <f32>(amax / 127);
      store<f32>(s + (<usize>b << 3), d);
      if (d == 0) continue;
      for (let c = c0; c < c1; c++) {
        const v = srcValue(W, row + <usize>c, dtype) / <f64>d;
        store<i8>(q + (<usize>b << 6) + <usize>(c - c0), <i8>(v < 0 ? -jsRound(-v) : jsRound(v)));
      }
    }
  }
}

/**
 * wq, wd (pair layout) = Q4_0 blocks of W (rows, cols), source dtype as {@link quantizeQ8}. Twin of `quantizeQ4`
 * (bit-exact). Writes every block byte (value-0 padding included) but not the scales of an odd count's padding
 * row: wd must be zeroed beforehand (fresh memory is); wq of the padding row is written as value 0.
 */
export function quantizeQ4(wq: usize, wd: usize, W: usize, rows: i32, cols: i32, dtype: i32): void {
  quantizeQ4Rows(wq, wd, W, rows, cols, dtype, 0, rows + (rows & 1));
}

/** {@link quantizeQ4} of rows [r0, r1) of the padded rows (rows + rows % 2; the last may be the padding row). */
export function quantizeQ4Rows(wq: usize, wd: usize, W: usize, rows: i32, cols: i32, dtype: i32, r0: i32, r1: i32): void {
  const nb = (cols + 31) >> 5;
  for (let r = r0; r < r1; r++) {
    const q = wq + rowBase(nb, r, 16);
    const s = wd + rowBase(nb, r, 4);
    for (let b = 0; b < nb; b++) {
      const blk = q + (<usize>b << 5);
      if (r >= rows) {
        memory.fill(blk, 0x88, 16); // the padding row: value 0
        continue;
      }
      const c0 = b << 5;
      const c1 = min(cols, c0 + 32);
      const row = <usize>r * <usize>cols;
      let m: f64 = 0;
      for (let c = c0; c < c1; c++) {
        const v = srcValue(W, row + <usize>c, dtype);
        if (Math.abs(v) > Math.abs(m)) m = v;
      }
      const d = <f32>(m / -8);
      store<f32>(s + (<usize>b << 3), d);
      for (let j = 0; j < 16; j++) {
        let lo: i32 = 8, hi: i32 = 8;
        if (d != 0) {
          if (c0 + j < c1) lo = <i32>min<f64>(15, Math.trunc(srcValue(W, row + <usize>(c0 + j), dtype) / <f64>d + 8.5));
          if (c0 + j + 16 < c1) hi = <i32>min<f64>(15, Math.trunc(srcValue(W, row + <usize>(c0 + j + 16), dtype) / <f64>d + 8.5));
        }
        store<u8>(blk + <usize>j, <u8>(lo | (hi << 4)));
      }
    }
  }
}

