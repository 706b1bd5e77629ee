// Shared SIMD helpers of the kernels: a vectorized exp, dtype loaders, horizontal sums.
// Nothing here keeps state: every kernel works on the pointers it is given.

/** Lanes 0..3 summed: (a0 + a1) + (a2 + a3). */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * e^x lane-wise for f32x4 (Cephes `expf`: n = round(x·log2 e), r = x − n·ln 2 in two parts, a degree-6
 * polynomial, then · 2^n by building the exponent bits). ~1 ulp on [-87.3, 88.3]; inputs are clamped to that
 * range, so e^(−∞) comes out as ~1.2e−38 instead of 0 (harmless where it is used: exp(A·dt) with A < 0).
 */
// @ts-ignore: decorator
@inline export function expv(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(-87.33654)), f32x4.splat(88.37626));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
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
