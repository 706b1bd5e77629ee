// RMS norms: the block norms, norm_f, and FalconMamba's weightless dt/B/C norm.
// Twins of `rmsNorm` and `dtBCRmsNorm` in src/reference/ops.ts. These are a few thousand floats per token, so
// they stay scalar and sum in f64 like the reference (bit-identical sums); SIMD would save nothing measurable.

/**
 * out (L, n) = x (L, n) · 1/sqrt(mean(x²) + eps) · weight (n), row by row (HF `MambaRMSNorm`).
 * `weight = 0` (null) gives the weightless norm. `out` may alias `x`.
 */
export function rmsNorm(out: usize, x: usize, weight: usize, L: i32, n: i32, eps: f32): void {
  for (let t = 0; t < L; t++) {
    const row = <usize>t * <usize>n * 4;
    let sumSq: f64 = 0;
    for (let i = 0; i < n; i++) {
      const v = <f64>load<f32>(x + row + (<usize>i << 2));
      sumSq += v * v;
    }
    const mean = <f32>(sumSq / <f64>n);
    const inv = <f32>(1.0 / Math.sqrt(<f64>(mean + eps)));
    for (let i = 0; i < n; i++) {
      const p = row + (<usize>i << 2);
      const normed: f32 = load<f32>(x + p) * inv;
      store<f32>(out + p, weight ? normed * load<f32>(weight + (<usize>i << 2)) : normed);
    }
  }
}

/**
 * {@link rmsNorm} over rows (tokens) [r0, r1) of x only: rows are independent, so a thread pool splits a prefill's
 * norm by token ranges (any bounds give the bits of one call over all rows).
 */
export function rmsNormRows(out: usize, x: usize, weight: usize, L: i32, n: i32, eps: f32, r0: i32, r1: i32): void {
  const o = <usize>r0 * <usize>n * 4;
  rmsNorm(out + o, x + o, weight, r1 - r0, n, eps);
}

/**
 * dbc (L, R+2N): dt (R), B (N), C (N) of each row normalized in place, each over its own width, no gain
 * (HF `FalconMambaMixer.slow_forward` → `rms_forward`, eps = `mixer_rms_eps`).
 */
export function dtBCRmsNorm(dbc: usize, L: i32, R: i32, N: i32, eps: f32): void {
  const W = <usize>(R + 2 * N) * 4;
  for (let t = 0; t < L; t++) {
    const row = dbc + <usize>t * W;
    rmsNorm(row, row, 0, 1, R, eps);
    rmsNorm(row + <usize>R * 4, row + <usize>R * 4, 0, 1, N, eps);
    rmsNorm(row + <usize>(R + N) * 4, row + <usize>(R + N) * 4, 0, 1, N, eps);
  }
}
