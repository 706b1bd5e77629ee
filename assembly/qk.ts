// The qk weight format (GGUF Q4_1, Q5_1 and the K-quants, losslessly; src/reference/quant-qk.ts): int8 quants in
// blocks of 32 with row pairs interleaved as for q8, an f32 scale per G = 16 or 32 weights and, for the types
// that have one, an f32 minimum per G weights: w = d·q − m. Twins of `activationSums16`, `linearQKInt` and the
// qk value in src/reference/quant-qk.ts:
//   wq  int8, block (r, b) = 32 bytes at 32·k, k = (r − r%2)·nb + 2b + r%2;
//   wd  f32, sub-block s of block (r, b) at 4·(S·k + s), S = 32/G;  wm  the same (0 = no minimums);
//   xq (L, nb·32) int8, xd (L, nb) f32: the activation as quantizeActivationQ8 makes it;
//   xs (L, 2·nb) f32: d_x·Σ q_x per 16 columns (activationSums16), the minimum's partner.
// Per sub-block the dot is d·d_x·Σ q·q_x (integers, exact: |Σ| ≤ 32·128·127) − m·(d_x·Σ q_x). The integer part
// is q8's (`load8x8_s` + `i32x4.dot_i16x8_s`); G = 16 scales each half of a block on its own. G is a compile-
// time choice (the type parameter: u16 for 16, u32 for 32), the minimum a per-call one (a branch per block that
// always goes the same way).

import { hsum, madd } from './common';

/** Sub-blocks per 32-column block: 2 for G = 16 (type u16), 1 for G = 32 (u32). */
// @ts-ignore: decorator
@inline function SUBS<G>(): usize {
  return sizeof<G>() == 2 ? 2 : 1;
}

/** Byte offset of row r's first block in the pair layout (bs = bytes per block); its blocks are 2·bs apart. */
// @ts-ignore: decorator
@inline function rowBase(nb: i32, r: i32, bs: usize): usize {
  return <usize>(r & ~1) * <usize>nb * bs + <usize>(r & 1) * bs;
}

/** Σ q_w·q_x of columns 0–15 (lanes of the result summed) of the 32-byte weight block at w. */
// @ts-ignore: decorator
@inline function dotLo(w: usize, x0: v128, x1: v128): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(w), x0), i32x4.dot_i16x8_s(v128.load8x8_s(w, 8), x1));
}

/** Columns 16–31. */
// @ts-ignore: decorator
@inline function dotHi(w: usize, x2: v128, x3: v128): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(w, 16), x2), i32x4.dot_i16x8_s(v128.load8x8_s(w, 24), x3));
}

/** acc + the scaled integer dots of one block (lo, hi halves) with scales at sp (f32, S of them), dx splat. */
// @ts-ignore: decorator
@inline function scaleAdd<G>(acc: v128, lo: v128, hi: v128, sp: usize, dx: v128): v128 {
  if (SUBS<G>() == 2) {
    acc = madd(f32x4.convert_i32x4_s(lo), f32x4.mul(dx, v128.load32_splat(sp)), acc);
    return madd(f32x4.convert_i32x4_s(hi), f32x4.mul(dx, v128.load32_splat(sp + 4)), acc);
  }
  return madd(f32x4.convert_i32x4_s(i32x4.add(lo, hi)), f32x4.mul(dx, v128.load32_splat(sp)), acc);
}

/**
 * xs (L, 2·nb) f32 = d_x · Σ q_x per 16 columns of the quantized activation (xq, xd) of x (L, n). Twin of
 * `activationSums16` (bit-exact: the integer sum is exact, one f32 product).
 */
export function activationSums16(xs: usize, xq: usize, xd: usize, L: i32, n: i32): void {
  const nb = (n + 31) >> 5;
  const blocks = <usize>L * <usize>nb;
  for (let i: usize = 0; i < blocks; i++) {
    const q = xq + (i << 5);
    const d = load<f32>(xd + (i << 2));
    const s0 = i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(q)));
    const s1 = i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(q, 16)));
    const a = i32x4.extract_lane(s0, 0) + i32x4.extract_lane(s0, 1) + i32x4.extract_lane(s0, 2) + i32x4.extract_lane(s0, 3);
    const b = i32x4.extract_lane(s1, 0) + i32x4.extract_lane(s1, 1) + i32x4.extract_lane(s1, 2) + i32x4.extract_lane(s1, 3);
    store<f32>(xs + (i << 3), d * <f32>a);
    store<f32>(xs + (i << 3), d * <f32>b, 4);
  }
}

/**
 * One token: out[r] = Σ_b Σ_s d·d_x·(q · q_x) − m·xs + bias for r in [r0, r1). Two rows (one interleaved pair) per
 * pass, sharing the activation operands; a row alone (odd r0 or r1) takes the one-row loop.
 */
function matvecQK<G>(out: usize, xq: usize, xd: usize, xs: usize, wq: usize, wd: usize, wm: usize, bias: usize, nb: i32, r0: i32, r1: i32): void {
  const S = SUBS<G>();
  let r = r0;
  if (r & 1 && r < r1) {
    matvecQKRow<G>(out, xq, xd, xs, wq, wd, wm, bias, nb, r);
    r++;
  }
  for (; r + 2 <= r1; r += 2) {
    const w = wq + <usize>r * <usize>nb * 32; // r even: the pair's first byte
    const s = wd + <usize>r * <usize>nb * S * 4;
    const mp = wm + <usize>r * <usize>nb * S * 4;
    let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), corr = f32x4.splat(0);
    for (let b = 0; b < nb; b++) {
      const xp = xq + (<usize>b << 5);
      const x0 = v128.load8x8_s(xp), x1 = v128.load8x8_s(xp, 8), x2 = v128.load8x8_s(xp, 16), x3 = v128.load8x8_s(xp, 24);
      const dx = v128.load32_splat(xd + (<usize>b << 2));
      const wb = w + (<usize>b << 6);
      const sp = s + <usize>b * 2 * S * 4;
      acc0 = scaleAdd<G>(acc0, dotLo(wb, x0, x1), dotHi(wb, x2, x3), sp, dx);
      acc1 = scaleAdd<G>(acc1, dotLo(wb + 32, x0, x1), dotHi(wb + 32, x2, x3), sp + S * 4, dx);
      if (wm) {
        // the pair's mins of this block: (m0a, m0b, m1a, m1b) for G = 16, (m0, m1) for G = 32
        const mq = mp + <usize>b * 2 * S * 4;
        const xsp = xs + (<usize>b << 3);
        if (S == 2) corr = madd(v128.load(mq), v128.load64_splat(xsp), corr);
        else corr = madd(v128.load64_zero(mq), f32x4.splat(load<f32>(xsp) + load<f32>(xsp, 4)), corr);
      }
    }
    let y0 = hsum(acc0), y1 = hsum(acc1);
    if (S == 2) {
      y0 -= f32x4.extract_lane(corr, 0) + f32x4.extract_lane(corr, 1);
      y1 -= f32x4.extract_lane(corr, 2) + f32x4.extract_lane(corr, 3);
    } else {
      y0 -= f32x4.extract_lane(corr, 0);
      y1 -= f32x4.extract_lane(corr, 1);
    }
    if (bias) {
      y0 += load<f32>(bias + (<usize>r << 2));
      y1 += load<f32>(bias + (<usize>r << 2), 4);
    }
    store<f32>(out + (<usize>r << 2), y0);
    store<f32>(out + (<usize>r << 2), y1, 4);
  }
  if (r < r1) matvecQKRow<G>(out, xq, xd, xs, wq, wd, wm, bias, nb, r);
}

/** Row r's Σ_b m·xs: its minimums' share of one token's dot (0 without minimums). */
// @ts-ignore: decorator
@inline function minTerm<G>(xs: usize, wm: usize, nb: i32, r: i32): f32 {
  if (!wm) return 0;
  const S = SUBS<G>();
  const mp = wm + rowBase(nb, r, S * 4);
  let c: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const m = mp + <usize>b * 2 * S * 4;
    const x = xs + (<usize>b << 3);
    if (S == 2) c += load<f32>(m) * load<f32>(x) + load<f32>(m, 4) * load<f32>(x, 4);
    else c += load<f32>(m) * (load<f32>(x) + load<f32>(x, 4));
  }
  return c;
}

/** One token, one row r (its blocks 64 bytes apart in the pair layout). */
function matvecQKRow<G>(out: usize, xq: usize, xd: usize, xs: usize, wq: usize, wd: usize, wm: usize, bias: usize, nb: i32, r: i32): void {
  const S = SUBS<G>();
  const w = wq + rowBase(nb, r, 32);
  const s = wd + rowBase(nb, r, S * 4);
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const xp = xq + (<usize>b << 5);
    const wb = w + (<usize>b << 6);
    const lo = dotLo(wb, v128.load8x8_s(xp), v128.load8x8_s(xp, 8));
    const hi = dotHi(wb, v128.load8x8_s(xp, 16), v128.load8x8_s(xp, 24));
    acc = scaleAdd<G>(acc, lo, hi, s + <usize>b * 2 * S * 4, v128.load32_splat(xd + (<usize>b << 2)));
  }
  let y = hsum(acc) - minTerm<G>(xs, wm, nb, r);
  if (bias) y += load<f32>(bias + (<usize>r << 2));
  store<f32>(out + (<usize>r << 2), y);
}

/** acc + token operands at xp (dx at dp) against the widened weight block e0..e3 (scales at sp). */
// @ts-ignore: decorator
@inline function tileStep<G>(acc: v128, xp: usize, dp: usize, sp: usize, e0: v128, e1: v128, e2: v128, e3: v128): v128 {
  const lo = i32x4.add(i32x4.dot_i16x8_s(e0, v128.load8x8_s(xp)), i32x4.dot_i16x8_s(e1, v128.load8x8_s(xp, 8)));
  const hi = i32x4.add(i32x4.dot_i16x8_s(e2, v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(e3, v128.load8x8_s(xp, 24)));
  return scaleAdd<G>(acc, lo, hi, sp, v128.load32_splat(dp));
}

/**
 * 4 tokens (at xq/xd/xs) × rows [r0, r1): each weight block is widened once and used for the 4 tokens; rows
 * outside, so each row is read once per 4 tokens while the chunk's activations stay in cache.
 */
function matmulQKx4<G>(out: usize, xq: usize, xd: usize, xs: usize, wq: usize, wd: usize, wm: usize, bias: usize, nb: i32, outF: i32, r0: i32, r1: i32): void {
  const S = SUBS<G>();
  const xStride = <usize>nb << 5;
  const dStride = <usize>nb << 2;
  const sStride = <usize>nb << 3;
  const oStride = <usize>outF << 2;
  for (let r = r0; r < r1; r++) {
    const w0 = wq + rowBase(nb, r, 32);
    const s0 = wd + rowBase(nb, r, S * 4);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b = 0; b < nb; b++) {
      const w = w0 + (<usize>b << 6);
      const e0 = v128.load8x8_s(w), e1 = v128.load8x8_s(w, 8), e2 = v128.load8x8_s(w, 16), e3 = v128.load8x8_s(w, 24);
      const sp = s0 + <usize>b * 2 * S * 4;
      const xp = xq + (<usize>b << 5);
      const dp = xd + (<usize>b << 2);
      a0 = tileStep<G>(a0, xp, dp, sp, e0, e1, e2, e3);
      a1 = tileStep<G>(a1, xp + xStride, dp + dStride, sp, e0, e1, e2, e3);
      a2 = tileStep<G>(a2, xp + 2 * xStride, dp + 2 * dStride, sp, e0, e1, e2, e3);
      a3 = tileStep<G>(a3, xp + 3 * xStride, dp + 3 * dStride, sp, e0, e1, e2, e3);
    }
    const bv: f32 = bias ? load<f32>(bias + (<usize>r << 2)) : 0;
    const op = out + (<usize>r << 2);
    store<f32>(op, hsum(a0) - minTerm<G>(xs, wm, nb, r) + bv);
    store<f32>(op + oStride, hsum(a1) - minTerm<G>(xs + sStride, wm, nb, r) + bv);
    store<f32>(op + 2 * oStride, hsum(a2) - minTerm<G>(xs + 2 * sStride, wm, nb, r) + bv);
    store<f32>(op + 3 * oStride, hsum(a3) - minTerm<G>(xs + 3 * sStride, wm, nb, r) + bv);
  }
}

function linearQKGen<G>(out: usize, xq: usize, xd: usize, xs: usize, wq: usize, wd: usize, wm: usize, bias: usize, L: i32, inF: i32, outF: i32, r0: i32, r1: i32): void {
  const nb = inF >> 5;
  const L4 = L & ~3;
  for (let t = 0; t < L4; t += 4) {
    matmulQKx4<G>(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 32, xd + <usize>t * <usize>nb * 4, xs + <usize>t * <usize>nb * 8, wq, wd, wm, bias, nb, outF, r0, r1);
  }
  for (let t = L4; t < L; t++) {
    matvecQK<G>(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 32, xd + <usize>t * <usize>nb * 4, xs + <usize>t * <usize>nb * 8, wq, wd, wm, bias, nb, r0, r1);
  }
}

/**
 * out (L, outF) rows [r0, r1) = the quantized activation (xq, xd; sums xs) (L, inF) @ the qk matrix (wq, wd, wm)
 * (outF, inF)ᵀ + bias; `group` 16 or 32 weights per scale, `wm = 0` for no minimums, `bias = 0` for none; inF a
 * multiple of 32. Twin of `linearQKInt` over rows [r0, r1).
 */
export function linearQKRows(out: usize, xq: usize, xd: usize, xs: usize, wq: usize, wd: usize, wm: usize, bias: usize, L: i32, inF: i32, outF: i32, group: i32, r0: i32, r1: i32): void {
  if (group == 16) linearQKGen<u16>(out, xq, xd, xs, wq, wd, wm, bias, L, inF, outF, r0, r1);
  else linearQKGen<u32>(out, xq, xd, xs, wq, wd, wm, bias, L, inF, outF, r0, r1);
}

/** {@link linearQKRows} over every row. Twin of `linearQKInt`. */
export function linearQK(out: usize, xq: usize, xd: usize, xs: usize, wq: usize, wd: usize, wm: usize, bias: usize, L: i32, inF: i32, outF: i32, group: i32): void {
  linearQKRows(out, xq, xd, xs, wq, wd, wm, bias, L, inF, outF, group, 0, outF);
}

/**
 * out (L, D) = rows ids (L i32) of the qk table (wq, wd, wm) (V, D): f32(f32(d·q) − m), ggml's dequantized values
 * bit for bit (twin of `qkValue`). Scalar: L·D values per call.
 */
export function embedQK(out: usize, wq: usize, wd: usize, wm: usize, ids: usize, L: i32, D: i32, group: i32): void {
  const nb = D >> 5;
  const S: usize = group == 16 ? 2 : 1;
  const shift = group == 16 ? 4 : 5;
  for (let t = 0; t < L; t++) {
    const id = load<i32>(ids + (<usize>t << 2));
    const q = wq + rowBase(nb, id, 32);
    const s = wd + rowBase(nb, id, S * 4);
    const m = wm + rowBase(nb, id, S * 4);
    const o = out + <usize>t * <usize>D * 4;
    for (let c = 0; c < D; c++) {
      const b = <usize>(c >> 5);
      const si = b * 2 * S * 4 + (<usize>((c & 31) >> shift) << 2);
      const v: f32 = load<f32>(s + si) * <f32>load<i8>(q + (b << 6) + <usize>(c & 31));
      store<f32>(o + (<usize>c << 2), wm ? v - load<f32>(m + si) : v);
    }
  }
}
