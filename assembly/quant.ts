// Block-quantized linear layers (issue 6 §3): weights in Q8_0 / Q4_0 blocks of 32 with an f32 scale each, the
// activation quantized per block of 32 to int8 (widened to int16), and the block dot done in integers with
// `i32x4.dot_i16x8_s` (llama.cpp's Q8_0 × Q8_0 scheme), scaled by d_w·d_x in f32.
// Twins of `quantizeActivationQ8` / `linearQInt` in src/reference/quant.ts; the layouts are described there and
// in docs/quantization.md:
//   wq  q8: (rows, nb·32) int8, row r at r·nb·32; q4: (rows, nb·16) bytes, block (r, b) at (r·nb + b)·16 with
//       q[j] in the low nibble and q[j+16] in the high nibble of byte j, value d·(q − 8);
//   wd  (rows, nb) f32 block scales;  xq (L, nb·32) int16;  xd (L, nb) f32;  nb = ceil(inF / 32).
// Padding columns are zero in both operands, so the dot loops run over whole blocks and need no scalar tail;
// the scalar tails are in the activation quantizer (a partial last block) and in the block loop (nb % 4 blocks).
//
// Decode (L = 1) does one weight row per pass, 4 blocks per step with their sums transposed into one vector
// before scaling (2 rows per pass sharing the x loads spilled and measured 1.8× slower); prefill (L > 1) does
// 1 row × 4 tokens so each weight block, once loaded and widened, is used 4 times (4 widened weight vectors +
// 4 accumulators + temporaries fit V8's 16 vector registers).
// Each `linearQ*` has a `…Rows` form computing output rows [r0, r1) only (row stride still outF) for threads.

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * xq (L, nb·32) int16, xd (L, nb) f32 = Q8 blocks of x (L, n): d = max|x|/127, q = nearest(x · (1/d)).
 * Twin of `quantizeActivationQ8` (bit-exact). Padding columns of the last block are written as 0.
 */
export function quantizeActivationQ8(xq: usize, xd: usize, x: usize, L: i32, n: i32): void {
  const nb = (n + 31) >> 5;
  const full = n >> 5; // blocks with 32 real values
  const absMask = i32x4.splat(0x7fffffff);
  for (let t = 0; t < L; t++) {
    const xr = x + <usize>t * <usize>n * 4;
    const qr = xq + <usize>t * <usize>nb * 64;
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
      const q = qr + (<usize>b << 6);
      v128.store(q, i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, s))), i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, s)))));
      v128.store(q, i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, s))), i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, s)))), 16);
      v128.store(q, i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v4, s))), i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v5, s)))), 32);
      v128.store(q, i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v6, s))), i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v7, s)))), 48);
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
        store<i16>(qr + (<usize>c << 1), <i16>(<i32>v));
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------------ q8

/** The 32-weight integer dot of a q8 block at w with an int16 activation block at x: 4 partial sums (i32x4). */
// @ts-ignore: decorator
@inline function blockDotQ8(w: usize, x: usize): v128 {
  const p = v128.load(w), q = v128.load(w, 16);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(p), v128.load(x)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(p), v128.load(x, 16))),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(q), v128.load(x, 32)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(q), v128.load(x, 48))),
  );
}

/**
 * [Σ lanes of s0, Σ s1, Σ s2, Σ s3]: four blocks' partial sums transposed into one vector, so the scaling by
 * d_w·d_x is one f32x4 mul for 4 blocks (measured 1.8× faster than scaling each block: bench/quant.ts).
 */
// @ts-ignore: decorator
@inline function transposeSum(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const u0 = i32x4.add(v128.shuffle<i32>(s0, s1, 0, 2, 4, 6), v128.shuffle<i32>(s0, s1, 1, 3, 5, 7));
  const u1 = i32x4.add(v128.shuffle<i32>(s2, s3, 0, 2, 4, 6), v128.shuffle<i32>(s2, s3, 1, 3, 5, 7));
  return i32x4.add(v128.shuffle<i32>(u0, u1, 0, 2, 4, 6), v128.shuffle<i32>(u0, u1, 1, 3, 5, 7));
}

/**
 * One token: out[r] = Σ_b wd[r,b]·xd[b]·(wq[r,b] · xq[b]) + bias[r] for r in [r0, r1); one row per pass,
 * 4 blocks per step (then the nb % 4 tail blocks one at a time).
 */
function matvecQ8(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>nb << 5;
  const nb4 = nb & ~3;
  for (let r = r0; r < r1; r++) {
    const w = wq + <usize>r * rowBytes;
    const sp = wd + <usize>r * <usize>nb * 4;
    let acc = f32x4.splat(0);
    let b = 0;
    for (; b < nb4; b += 4) {
      const wb = w + (<usize>b << 5);
      const xb = xq + (<usize>b << 6);
      const v = transposeSum(blockDotQ8(wb, xb), blockDotQ8(wb + 32, xb + 64), blockDotQ8(wb + 64, xb + 128), blockDotQ8(wb + 96, xb + 192));
      const sc = f32x4.mul(v128.load(sp + (<usize>b << 2)), v128.load(xd + (<usize>b << 2)));
      acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(v), sc));
    }
    for (; b < nb; b++) {
      // Tail blocks: each block's 4 partial sums scaled on their own.
      const sc = f32x4.mul(v128.load32_splat(sp + (<usize>b << 2)), v128.load32_splat(xd + (<usize>b << 2)));
      acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(blockDotQ8(w + (<usize>b << 5), xq + (<usize>b << 6))), sc));
    }
    let y = hsum(acc);
    if (bias) y += load<f32>(bias + (<usize>r << 2));
    store<f32>(out + (<usize>r << 2), y);
  }
}

/** 4 tokens × rows [r0, r1): out (4, outF) rows = the 4 quantized activations at xq/xd against each weight row. */
function matmulQ8x4(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, outF: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>nb << 5;
  const xStride = <usize>nb << 6; // bytes between tokens' int16 quants
  const dStride = <usize>nb << 2;
  const oStride = <usize>outF << 2;
  for (let r = r0; r < r1; r++) {
    const w0 = wq + <usize>r * rowBytes;
    const sp = wd + <usize>r * dStride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b = 0; b < nb; b++) {
      const o = <usize>b << 5;
      const p = v128.load(w0 + o), q = v128.load(w0 + o, 16);
      const e0 = i16x8.extend_low_i8x16_s(p), e1 = i16x8.extend_high_i8x16_s(p);
      const e2 = i16x8.extend_low_i8x16_s(q), e3 = i16x8.extend_high_i8x16_s(q);
      const sw = v128.load32_splat(sp + (<usize>b << 2));
      let xp = xq + (<usize>b << 6);
      let dp = xd + (<usize>b << 2);
      let i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(xp)), i32x4.dot_i16x8_s(e1, v128.load(xp, 16))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(xp, 32)), i32x4.dot_i16x8_s(e3, v128.load(xp, 48))),
      );
      a0 = f32x4.add(a0, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(xp)), i32x4.dot_i16x8_s(e1, v128.load(xp, 16))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(xp, 32)), i32x4.dot_i16x8_s(e3, v128.load(xp, 48))),
      );
      a1 = f32x4.add(a1, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(xp)), i32x4.dot_i16x8_s(e1, v128.load(xp, 16))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(xp, 32)), i32x4.dot_i16x8_s(e3, v128.load(xp, 48))),
      );
      a2 = f32x4.add(a2, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(xp)), i32x4.dot_i16x8_s(e1, v128.load(xp, 16))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(xp, 32)), i32x4.dot_i16x8_s(e3, v128.load(xp, 48))),
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
  let t = 0;
  for (; t + 4 <= L; t += 4) {
    matmulQ8x4(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 64, xd + <usize>t * <usize>nb * 4, wq, wd, bias, nb, outF, r0, r1);
  }
  for (; t < L; t++) {
    matvecQ8(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 64, xd + <usize>t * <usize>nb * 4, wq, wd, bias, nb, r0, r1);
  }
}

/** out (L, outF) = deq(xq, xd) (L, inF) @ deq(wq, wd) (outF, inF)ᵀ + bias, Q8_0 weights. Twin of `linearQInt` ('q8'). */
export function linearQ8(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, L: i32, inF: i32, outF: i32): void {
  linearQ8Rows(out, xq, xd, wq, wd, bias, L, inF, outF, 0, outF);
}

// ------------------------------------------------------------------------------------------------------ q4

/** The 32 weights of a q4 block as 4 i16x8 (q − 8), columns 0–7, 8–15, 16–23, 24–31. */
// @ts-ignore: decorator
@inline function q4Lo(v: v128): v128 {
  return i8x16.sub(v128.and(v, i8x16.splat(15)), i8x16.splat(8));
}
// @ts-ignore: decorator
@inline function q4Hi(v: v128): v128 {
  return i8x16.sub(v128.and(i16x8.shr_u(v, 4), i8x16.splat(15)), i8x16.splat(8));
}

/** The 32-weight integer dot of a q4 block (16 bytes at w) with an int16 activation block at x (i32x4). */
// @ts-ignore: decorator
@inline function blockDotQ4(w: usize, x: usize): v128 {
  const v = v128.load(w);
  const l = q4Lo(v), h = q4Hi(v);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(l), v128.load(x)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(l), v128.load(x, 16))),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(h), v128.load(x, 32)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(h), v128.load(x, 48))),
  );
}

/** One token, Q4_0 weights: as {@link matvecQ8} with 16-byte blocks. */
function matvecQ4(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>nb << 4;
  const nb4 = nb & ~3;
  for (let r = r0; r < r1; r++) {
    const w = wq + <usize>r * rowBytes;
    const sp = wd + <usize>r * <usize>nb * 4;
    let acc = f32x4.splat(0);
    let b = 0;
    for (; b < nb4; b += 4) {
      const wb = w + (<usize>b << 4);
      const xb = xq + (<usize>b << 6);
      const v = transposeSum(blockDotQ4(wb, xb), blockDotQ4(wb + 16, xb + 64), blockDotQ4(wb + 32, xb + 128), blockDotQ4(wb + 48, xb + 192));
      const sc = f32x4.mul(v128.load(sp + (<usize>b << 2)), v128.load(xd + (<usize>b << 2)));
      acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(v), sc));
    }
    for (; b < nb; b++) {
      const sc = f32x4.mul(v128.load32_splat(sp + (<usize>b << 2)), v128.load32_splat(xd + (<usize>b << 2)));
      acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(blockDotQ4(w + (<usize>b << 4), xq + (<usize>b << 6))), sc));
    }
    let y = hsum(acc);
    if (bias) y += load<f32>(bias + (<usize>r << 2));
    store<f32>(out + (<usize>r << 2), y);
  }
}

/** 4 tokens × rows [r0, r1), Q4_0 weights: as {@link matmulQ8x4}. */
function matmulQ4x4(out: usize, xq: usize, xd: usize, wq: usize, wd: usize, bias: usize, nb: i32, outF: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>nb << 4;
  const xStride = <usize>nb << 6;
  const dStride = <usize>nb << 2;
  const oStride = <usize>outF << 2;
  for (let r = r0; r < r1; r++) {
    const w0 = wq + <usize>r * rowBytes;
    const sp = wd + <usize>r * dStride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b = 0; b < nb; b++) {
      const v = v128.load(w0 + (<usize>b << 4));
      const l = q4Lo(v), h = q4Hi(v);
      const e0 = i16x8.extend_low_i8x16_s(l), e1 = i16x8.extend_high_i8x16_s(l);
      const e2 = i16x8.extend_low_i8x16_s(h), e3 = i16x8.extend_high_i8x16_s(h);
      const sw = v128.load32_splat(sp + (<usize>b << 2));
      let xp = xq + (<usize>b << 6);
      let dp = xd + (<usize>b << 2);
      let i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(xp)), i32x4.dot_i16x8_s(e1, v128.load(xp, 16))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(xp, 32)), i32x4.dot_i16x8_s(e3, v128.load(xp, 48))),
      );
      a0 = f32x4.add(a0, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(xp)), i32x4.dot_i16x8_s(e1, v128.load(xp, 16))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(xp, 32)), i32x4.dot_i16x8_s(e3, v128.load(xp, 48))),
      );
      a1 = f32x4.add(a1, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(xp)), i32x4.dot_i16x8_s(e1, v128.load(xp, 16))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(xp, 32)), i32x4.dot_i16x8_s(e3, v128.load(xp, 48))),
      );
      a2 = f32x4.add(a2, f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(v128.load32_splat(dp), sw)));
      xp += xStride; dp += dStride;
      i = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(xp)), i32x4.dot_i16x8_s(e1, v128.load(xp, 16))),
        i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(xp, 32)), i32x4.dot_i16x8_s(e3, v128.load(xp, 48))),
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
  let t = 0;
  for (; t + 4 <= L; t += 4) {
    matmulQ4x4(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 64, xd + <usize>t * <usize>nb * 4, wq, wd, bias, nb, outF, r0, r1);
  }
  for (; t < L; t++) {
    matvecQ4(out + <usize>t * <usize>outF * 4, xq + <usize>t * <usize>nb * 64, xd + <usize>t * <usize>nb * 4, wq, wd, bias, nb, r0, r1);
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
    const q = wq + id * (<usize>nb << 5);
    const s = wd + id * (<usize>nb << 2);
    const o = out + <usize>t * <usize>D * 4;
    for (let c = 0; c < D; c++) {
      store<f32>(o + (<usize>c << 2), load<f32>(s + (<usize>(c >> 5) << 2)) * <f32>load<i8>(q + <usize>c));
    }
  }
}

/** out (L, D) = deq(wq, wd) (V, D)[ids (L)], Q4_0 table (nibble layout of linearQ4). Twin of `embed` on `dequantize(Q)`. */
export function embedQ4(out: usize, wq: usize, wd: usize, ids: usize, L: i32, D: i32): void {
  const nb = (D + 31) >> 5;
  for (let t = 0; t < L; t++) {
    const id = <usize>load<i32>(ids + (<usize>t << 2));
    const q = wq + id * (<usize>nb << 4);
    const s = wd + id * (<usize>nb << 2);
    const o = out + <usize>t * <usize>D * 4;
    for (let c = 0; c < D; c++) {
      const j = c & 31;
      const byte = <i32>load<u8>(q + (<usize>(c >> 5) << 4) + <usize>(j & 15));
      const v = (j < 16 ? byte & 15 : byte >> 4) - 8;
      store<f32>(o + (<usize>c << 2), load<f32>(s + (<usize>(c >> 5) << 2)) * <f32>v);
    }
  }
}
