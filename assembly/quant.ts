// Block-quantized linear layers (issue 6 §3): weights in Q8_0 / Q4_0 blocks of 32 with an f32 scale each, the
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
// Decode (L = 1) does one interleaved row pair per pass, so each activation block loaded serves both rows and
// the weights are one sequential stream (two separate rows 4 KiB apart measured 2× slower from DRAM; one row per
// pass with 4 blocks' sums transposed before scaling, 16% slower: bench/quant.ts); prefill (L > 1) does
// 1 row × 4 tokens so each weight block, once loaded and widened, is used 4 times (4 widened weight vectors +
// 4 accumulators + temporaries fit V8's 16 vector registers).
// Each `linearQ*` has a `…Rows` form computing output rows [r0, r1) only (row stride still outF) for threads.

import { bf16ToF32, f16ToF32 } from './common';
import { prefillRowBlock } from './linear';

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

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

// ------------------------------------------------------------------------------------------------------ q8

/** The 32-weight integer dot of a q8 block at w with an int8 activation block at x (loaded with `load8x8_s`: load and widen in one instruction): 4 partial sums (i32x4). */
// @ts-ignore: decorator
@inline function blockDotQ8(w: usize, x: usize): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(w), v128.load8x8_s(x)), i32x4.dot_i16x8_s(v128.load8x8_s(w, 8), v128.load8x8_s(x, 8))),
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(w, 16), v128.load8x8_s(x, 16)), i32x4.dot_i16x8_s(v128.load8x8_s(w, 24), v128.load8x8_s(x, 24))),
  );
}

/** Byte offset of row r's first block in the pair layout (BS = bytes per block); its blocks are 2·BS apart. */
// @ts-ignore: decorator
@inline function rowBase(nb: i32, r: i32, BS: usize): usize {
  return <usize>(r & ~1) * <usize>nb * BS + <usize>(r & 1) * BS;
}

/**
 * One token: out[r] = Σ_b wd[r,b]·xd[b]·(wq[r,b] · xq[b]) + bias[r] for r in [r0, r1). Two rows (one interleaved
 * pair) per pass, sharing the activation loads; a row alone (odd r0 or r1) goes through the one-row loop.
 */
function matvecQ8(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, r0: i32, r1: i32): void {
  let r = r0;
  if (r & 1 && r < r1) {
    matvecQ8Row(out, xq, xd, wq, wd, bias, nb, r);
    r++;
  }
  for (; r + 2 <= r1; r += 2) {
    const w = wq + <usize>r * <usize>nb * 32; // r even: the pair's first byte
    const s = wd + <usize>r * <usize>nb * 4;
    let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
    for (let b = 0; b < nb; b++) {
      const xp = xq + (<usize>b << 5);
      const x0 = v128.load8x8_s(xp), x1 = v128.load8x8_s(xp, 8), x2 = v128.load8x8_s(xp, 16), x3 = v128.load8x8_s(xp, 24);
      const sx = v128.load32_splat(xd + (<usize>b << 2));
      const wb = w + (<usize>b << 6);
      // Weights widened as they are loaded (`load8x8_s`: one instruction per 8, no separate extend).
      let i0 = i32x4.dot_i16x8_s(v128.load8x8_s(wb), x0);
      let i1 = i32x4.dot_i16x8_s(v128.load8x8_s(wb, 32), x0);
      i0 = i32x4.add(i0, i32x4.dot_i16x8_s(v128.load8x8_s(wb, 8), x1));
      i1 = i32x4.add(i1, i32x4.dot_i16x8_s(v128.load8x8_s(wb, 40), x1));
      i0 = i32x4.add(i0, i32x4.dot_i16x8_s(v128.load8x8_s(wb, 16), x2));
      i1 = i32x4.add(i1, i32x4.dot_i16x8_s(v128.load8x8_s(wb, 48), x2));
      i0 = i32x4.add(i0, i32x4.dot_i16x8_s(v128.load8x8_s(wb, 24), x3));
      i1 = i32x4.add(i1, i32x4.dot_i16x8_s(v128.load8x8_s(wb, 56), x3));
      const sp = s + (<usize>b << 3);
      acc0 = f32x4.add(acc0, f32x4.mul(f32x4.convert_i32x4_s(i0), f32x4.mul(sx, v128.load32_splat(sp))));
      acc1 = f32x4.add(acc1, f32x4.mul(f32x4.convert_i32x4_s(i1), f32x4.mul(sx, v128.load32_splat(sp + 4))));
    }
    let y0 = hsum(acc0), y1 = hsum(acc1);
    if (bias) {
      y0 += load<f32>(bias + (<usize>r << 2));
      y1 += load<f32>(bias + (<usize>r << 2), 4);
    }
    store<f32>(out + (<usize>r << 2), y0);
    store<f32>(out + (<usize>r << 2), y1, 4);
  }
  if (r < r1) matvecQ8Row(out, xq, xd, wq, wd, bias, nb, r);
}

/** One token, one row r (blocks 64 B apart in the pair layout). */
function matvecQ8Row(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, r: i32): void {
  const w = wq + rowBase(nb, r, 32);
  const s = wd + rowBase(nb, r, 4);
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const sc = f32x4.mul(v128.load32_splat(xd + (<usize>b << 2)), v128.load32_splat(s + (<usize>b << 3)));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(blockDotQ8(w + (<usize>b << 6), xq + (<usize>b << 5))), sc));
  }
  let y = hsum(acc);
  if (bias) y += load<f32>(bias + (<usize>r << 2));
  store<f32>(out + (<usize>r << 2), y);
}

/** 4 tokens × rows [r0, r1): out (4, outF) rows = the 4 quantized activations at xq/xd against each weight row. */
function matmulQ8x4(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, outF: i32, r0: i32, r1: i32): void {
  const xStride = <usize>nb << 5; // bytes between tokens' int8 quants
  const dStride = <usize>nb << 2;
  const oStride = <usize>outF << 2;
  for (let r = r0; r < r1; r++) {
    const w0 = wq + rowBase(nb, r, 32);
    const sp = wd + rowBase(nb, r, 4);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b = 0; b < nb; b++) {
      const o = <usize>b << 6;
      const p = v128.load(w0 + o), q = v128.load(w0 + o, 16);
      const e0 = i16x8.extend_low_i8x16_s(p), e1 = i16x8.extend_high_i8x16_s(p);
      const e2 = i16x8.extend_low_i8x16_s(q), e3 = i16x8.extend_high_i8x16_s(q);
      const sw = v128.load32_splat(sp + (<usize>b << 3));
      let xp = xq + (<usize>b << 5);
      let dp = xd + (<usize>b << 2);
      let i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load8x8_s(xp)), i32x4.dot_i16x8_s(e1, v128.load8x8_s(xp, 8))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(e3, v128.load8x8_s(xp, 24))),
      );
      a0 = f32x4.add(a0, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load8x8_s(xp)), i32x4.dot_i16x8_s(e1, v128.load8x8_s(xp, 8))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(e3, v128.load8x8_s(xp, 24))),
      );
      a1 = f32x4.add(a1, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load8x8_s(xp)), i32x4.dot_i16x8_s(e1, v128.load8x8_s(xp, 8))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(e3, v128.load8x8_s(xp, 24))),
      );
      a2 = f32x4.add(a2, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load8x8_s(xp)), i32x4.dot_i16x8_s(e1, v128.load8x8_s(xp, 8))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(e3, v128.load8x8_s(xp, 24))),
      );
      a3 = f32x4.add(a3, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
    }
    const bv: f32 = bias ? load<f32>(bias + (<usize>r << 2)) : 0;
    const op = out + (<usize>r << 2);
    store<f32>(op, hsum(a0) + bv);
    store<f32>(op + oStride, hsum(a1) + bv);
    store<f32>(op + 2 * oStride, hsum(a2) + bv);
    store<f32>(op + 3 * oStride, hsum(a3) + bv);
  }
}

/**
 * out (L, outF) rows [r0, r1) = deq(xq, xd) (L, inF) @ deq(wq, wd) (outF, inF)ᵀ + bias, Q8_0 weights.
 * Twin of `linearQInt` (kind 'q8') over rows [r0, r1); `bias = 0` for none.
 */
export function linearQ8Rows(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  const nb = (inF + 31) >> 5;
  const L4 = L & ~3;
  // Prefill: row blocks outside, 4-token groups inside, so the matrix streams from memory once per chunk
  // (linear.ts `prefillRowBlock`); each output is computed as before.
  const RB = prefillRowBlock(nb * 36);
  for (let rb = r0; L4 > 0 && rb < r1; rb += RB) {
    const re = min(r1, rb + RB);
    for (let t = 0; t < L4; t += 4) {
      matmulQ8x4(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 32, xd + <usize>t * <usize>nb * 4, wq, wd, bias, nb, outF, rb, re);
    }
  }
  for (let t = L4; t < L; t++) {
    matvecQ8(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 32, xd + <usize>t * <usize>nb * 4, wq, wd, bias, nb, r0, r1);
  }
}

/** out (L, outF) = deq(xq, xd) (L, inF) @ deq(wq, wd) (outF, inF)ᵀ + bias, Q8_0 weights. Twin of `linearQInt` ('q8'). */
export function linearQ8(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32): void {
  linearQ8Rows(out, xq, xd, wq, wd, bias, L, inF, outF, 0, outF);
}

// ------------------------------------------------------------------------------------------------------ q4

/** A q4 block's 16 bytes → its weights q − 8 as i8x16: columns 0–15 (low nibbles), 16–31 (high nibbles). */
// @ts-ignore: decorator
@inline function q4Lo(v: v128): v128 {
  return i8x16.sub(v128.and(v, i8x16.splat(15)), i8x16.splat(8));
}
// @ts-ignore: decorator
@inline function q4Hi(v: v128): v128 {
  return i8x16.sub(v128.and(i16x8.shr_u(v, 4), i8x16.splat(15)), i8x16.splat(8));
}

/** The 32-weight integer dot of a q4 block (16 bytes at w) with an int8 activation block at x (loaded with `load8x8_s`: load and widen in one instruction) (i32x4). */
// @ts-ignore: decorator
@inline function blockDotQ4(w: usize, x: usize): v128 {
  const v = v128.load(w);
  const l = q4Lo(v), h = q4Hi(v);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(l), v128.load8x8_s(x)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(l), v128.load8x8_s(x, 8))),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(h), v128.load8x8_s(x, 16)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(h), v128.load8x8_s(x, 24))),
  );
}

/** One token, Q4_0 weights: as {@link matvecQ8} with 16-byte blocks. */
function matvecQ4(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, r0: i32, r1: i32): void {
  let r = r0;
  if (r & 1 && r < r1) {
    matvecQ4Row(out, xq, xd, wq, wd, bias, nb, r);
    r++;
  }
  for (; r + 2 <= r1; r += 2) {
    const w = wq + <usize>r * <usize>nb * 16;
    const s = wd + <usize>r * <usize>nb * 4;
    let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
    for (let b = 0; b < nb; b++) {
      const xp = xq + (<usize>b << 5);
      const x0 = v128.load8x8_s(xp), x1 = v128.load8x8_s(xp, 8), x2 = v128.load8x8_s(xp, 16), x3 = v128.load8x8_s(xp, 24);
      const sx = v128.load32_splat(xd + (<usize>b << 2));
      const wb = w + (<usize>b << 5);
      const v0 = v128.load(wb), v1 = v128.load(wb, 16);
      const l0 = q4Lo(v0), h0 = q4Hi(v0), l1 = q4Lo(v1), h1 = q4Hi(v1);
      let i0 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(l0), x0);
      let i1 = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(l1), x0);
      i0 = i32x4.add(i0, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(l0), x1));
      i1 = i32x4.add(i1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(l1), x1));
      i0 = i32x4.add(i0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(h0), x2));
      i1 = i32x4.add(i1, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(h1), x2));
      i0 = i32x4.add(i0, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(h0), x3));
      i1 = i32x4.add(i1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(h1), x3));
      const sp = s + (<usize>b << 3);
      acc0 = f32x4.add(acc0, f32x4.mul(f32x4.convert_i32x4_s(i0), f32x4.mul(sx, v128.load32_splat(sp))));
      acc1 = f32x4.add(acc1, f32x4.mul(f32x4.convert_i32x4_s(i1), f32x4.mul(sx, v128.load32_splat(sp + 4))));
    }
    let y0 = hsum(acc0), y1 = hsum(acc1);
    if (bias) {
      y0 += load<f32>(bias + (<usize>r << 2));
      y1 += load<f32>(bias + (<usize>r << 2), 4);
    }
    store<f32>(out + (<usize>r << 2), y0);
    store<f32>(out + (<usize>r << 2), y1, 4);
  }
  if (r < r1) matvecQ4Row(out, xq, xd, wq, wd, bias, nb, r);
}

/** One token, one q4 row r (blocks 32 B apart in the pair layout). */
function matvecQ4Row(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, r: i32): void {
  const w = wq + rowBase(nb, r, 16);
  const s = wd + rowBase(nb, r, 4);
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const sc = f32x4.mul(v128.load32_splat(xd + (<usize>b << 2)), v128.load32_splat(s + (<usize>b << 3)));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(blockDotQ4(w + (<usize>b << 5), xq + (<usize>b << 5))), sc));
  }
  let y = hsum(acc);
  if (bias) y += load<f32>(bias + (<usize>r << 2));
  store<f32>(out + (<usize>r << 2), y);
}

/** 4 tokens × rows [r0, r1), Q4_0 weights: as {@link matmulQ8x4}. */
function matmulQ4x4(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, outF: i32, r0: i32, r1: i32): void {
  const xStride = <usize>nb << 5;
  const dStride = <usize>nb << 2;
  const oStride = <usize>outF << 2;
  for (let r = r0; r < r1; r++) {
    const w0 = wq + rowBase(nb, r, 16);
    const sp = wd + rowBase(nb, r, 4);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b = 0; b < nb; b++) {
      const v = v128.load(w0 + (<usize>b << 5));
      const l = q4Lo(v), h = q4Hi(v);
      const e0 = i16x8.extend_low_i8x16_s(l), e1 = i16x8.extend_high_i8x16_s(l);
      const e2 = i16x8.extend_low_i8x16_s(h), e3 = i16x8.extend_high_i8x16_s(h);
      const sw = v128.load32_splat(sp + (<usize>b << 3));
      let xp = xq + (<usize>b << 5);
      let dp = xd + (<usize>b << 2);
      let i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load8x8_s(xp)), i32x4.dot_i16x8_s(e1, v128.load8x8_s(xp, 8))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(e3, v128.load8x8_s(xp, 24))),
      );
      a0 = f32x4.add(a0, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load8x8_s(xp)), i32x4.dot_i16x8_s(e1, v128.load8x8_s(xp, 8))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(e3, v128.load8x8_s(xp, 24))),
      );
      a1 = f32x4.add(a1, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load8x8_s(xp)), i32x4.dot_i16x8_s(e1, v128.load8x8_s(xp, 8))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(e3, v128.load8x8_s(xp, 24))),
      );
      a2 = f32x4.add(a2, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load8x8_s(xp)), i32x4.dot_i16x8_s(e1, v128.load8x8_s(xp, 8))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(e3, v128.load8x8_s(xp, 24))),
      );
      a3 = f32x4.add(a3, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
    }
    const bv: f32 = bias ? load<f32>(bias + (<usize>r << 2)) : 0;
    const op = out + (<usize>r << 2);
    store<f32>(op, hsum(a0) + bv);
    store<f32>(op + oStride, hsum(a1) + bv);
    store<f32>(op + 2 * oStride, hsum(a2) + bv);
    store<f32>(op + 3 * oStride, hsum(a3) + bv);
  }
}

/**
 * out (L, outF) rows [r0, r1) = deq(xq, xd) (L, inF) @ deq(wq, wd) (outF, inF)ᵀ + bias, Q4_0 weights.
 * Twin of `linearQInt` (kind 'q4') over rows [r0, r1); `bias = 0` for none.
 */
export function linearQ4Rows(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  const nb = (inF + 31) >> 5;
  const L4 = L & ~3;
  // Prefill: row blocks outside, 4-token groups inside, so the matrix streams from memory once per chunk
  // (linear.ts `prefillRowBlock`); each output is computed as before.
  const RB = prefillRowBlock(nb * 20);
  for (let rb = r0; L4 > 0 && rb < r1; rb += RB) {
    const re = min(r1, rb + RB);
    for (let t = 0; t < L4; t += 4) {
      matmulQ4x4(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 32, xd + <usize>t * <usize>nb * 4, wq, wd, bias, nb, outF, rb, re);
    }
  }
  for (let t = L4; t < L; t++) {
    matvecQ4(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 32, xd + <usize>t * <usize>nb * 4, wq, wd, bias, nb, r0, r1);
  }
}

/** out (L, outF) = deq(xq, xd) (L, inF) @ deq(wq, wd) (outF, inF)ᵀ + bias, Q4_0 weights. Twin of `linearQInt` ('q4'). */
export function linearQ4(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32): void {
  linearQ4Rows(out, xq, xd, wq, wd, bias, L, inF, outF, 0, outF);
}

// --------------------------------------------------------------------------------------------------- embed

/**
 * out (L, D) = deq(wq, wd) (V, D)[ids (L)], Q8_0 table; `ids` points to L i32 values. Twin of `embed` on
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

/** out (L, D) = deq(wq, wd) (V, D)[ids (L)], Q4_0 table (nibble layout of linearQ4). Twin of `embed` on `dequantize(Q)`. */
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
