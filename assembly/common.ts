// Shared SIMD helpers of the kernels: a vectorized exp, dtype loaders, horizontal sums.
// Nothing here keeps state: every kernel works on the pointers it is given.

/**
 * a·b + c lane-wise: one fused multiply-add (`f32x4.relaxed_madd`) in the relaxed-SIMD build
 * (build/kernels-relaxed.wasm), a multiply then an add in the plain build. Used where the rounding of the
 * product may differ between builds: the prefill tiles' accumulations (docs/kernels.md).
 */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  else return f32x4.add(f32x4.mul(a, b), c);
}

/** Lanes 0..3 summed: (a0 + a1) + (a2 + a3). */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * e^x lane-wise for f32x4 (Cephes `expf`: n = round(x·log2 e), r = x − n·ln 2 in two parts, a degree-6
 * polynomial, then · 2^n by building the exponent bits). ~1 ulp on [-87.3, 88.3]; inputs are clamped to that
 * range, so e^(−∞) comes out as ~1.2e−38 instead of 0 (harmless where it is used: exp(A·dt) with A < 0, silu).
 * Written for V8's x64 code generation: `pmin`/`pmax` (one instruction each; wasm's NaN-propagating `min`/`max`
 * take ~8), and rounding by adding 1.5·2^23 (whose low mantissa bits are then n itself) instead of `nearest` +
 * `trunc_sat` — the scan got ~2× faster from these two alone.
 */
// @ts-ignore: decorator
@inline export function expv(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.33654)), f32x4.splat(88.37626));
  const magic = f32x4.splat(12582912.0); // 1.5·2^23
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), magic);
  const n = f32x4.sub(t, magic);
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  // t's bits = bits(1.5·2^23) + n for |n| < 2^22; (n + 127) << 23 is 2^n.
  const scale = i32x4.shl(i32x4.add(i32x4.sub(t, magic), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

/** silu(a) = a / (1 + e^(−a)) in f64, rounded once to f32, exactly as src/reference/ops.ts `silu`. */
// @ts-ignore: decorator
@inline export function silu(a: f32): f32 {
  return <f32>(<f64>a / (1.0 + Math.exp(-<f64>a)));
}

/** softplus(a) = a > 20 ? a : log1p(e^a) (PyTorch threshold 20), as src/reference/ops.ts `softplus`. */
// @ts-ignore: decorator
@inline export function softplus(a: f32): f32 {
  return a > 20 ? a : <f32>Math.log1p(Math.exp(<f64>a));
}

/** f16 bits (in the low 16 bits of each i32 lane) → f32x4, exact for normals and subnormals (inf/NaN → large finite). */
// @ts-ignore: decorator
@inline export function f16x4ToF32(h: v128): v128 {
  // (h & 0x7fff) << 13 puts exponent and mantissa in f32 position with bias 15 instead of 127; × 2^112 rebiases
  // (and turns f16 subnormals into the right f32 value), then the sign bit is ORed back.
  const mag = f32x4.mul(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), f32x4.splat(5.192296858534828e33));
  return v128.or(mag, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

/** One f16 value (bits) → f32, scalar twin of {@link f16x4ToF32}. */
// @ts-ignore: decorator
@inline export function f16ToF32(h: u32): f32 {
  const mag = reinterpret<f32>((h & 0x7fff) << 13) * <f32>5.192296858534828e33;
  return reinterpret<f32>(reinterpret<u32>(mag) | ((h & 0x8000) << 16));
}

/** One bf16 value (bits) → f32: the upper half of an f32 (exact). */
// @ts-ignore: decorator
@inline export function bf16ToF32(h: u32): f32 {
  return reinterpret<f32>(h << 16);
}

/**
 * log(1 + u) lane-wise for u ∈ [0, 1]: 2·atanh(s) with s = u / (2 + u) ∈ [0, 1/3], odd series to s¹³
 * (truncation < 2e-8 relative), so ~1 ulp in f32.
 */
// @ts-ignore: decorator
@inline export function log1pUnitv(u: v128): v128 {
  const s = f32x4.div(u, f32x4.add(u, f32x4.splat(2)));
  const s2 = f32x4.mul(s, s);
  let p = f32x4.splat(<f32>(1.0 / 13));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(<f32>(1.0 / 11)));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(<f32>(1.0 / 9)));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(<f32>(1.0 / 7)));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(<f32>(1.0 / 5)));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(<f32>(1.0 / 3)));
  p = f32x4.add(f32x4.mul(p, s2), f32x4.splat(1));
  return f32x4.mul(f32x4.add(s, s), p);
}

/** softplus lane-wise: a > 20 ? a : max(a, 0) + log1p(e^(−|a|)) (= log1p(e^a), PyTorch threshold 20). */
// @ts-ignore: decorator
@inline export function softplusv(a: v128): v128 {
  const soft = f32x4.add(f32x4.pmax(a, f32x4.splat(0)), log1pUnitv(expv(f32x4.neg(f32x4.abs(a)))));
  return v128.bitselect(a, soft, f32x4.gt(a, f32x4.splat(20)));
}

/** silu lane-wise: a / (1 + e^(−a)). */
// @ts-ignore: decorator
@inline export function siluv(a: v128): v128 {
  return f32x4.div(a, f32x4.add(f32x4.splat(1), expv(f32x4.neg(a))));
}

/** p (n) = silu(p) in place: 4 lanes at a time, the n % 4 tail scalar. */
export function siluInPlace(p: usize, n: i32): void {
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    const q = p + (<usize>i << 2);
    v128.store(q, siluv(v128.load(q)));
  }
  for (let i = n4; i < n; i++) {
    const q = p + (<usize>i << 2);
    store<f32>(q, silu(load<f32>(q)));
  }
}
