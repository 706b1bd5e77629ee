// The selective scan, fused: softplus(Δ), exp(A·Δ), the state update, the C contraction, the D skip and the
// silu(z) gate in one pass per token and channel; nothing of size (L, E, N) is ever materialized
// (llama.cpp `ggml_compute_forward_ssm_scan_f32` does the same). Twins of `selectiveScan` /
// `selectiveScanStep` in src/reference/ops.ts (paper §3.2, Algorithm 2; HF `slow_forward` loop body).
// SIMD runs over the state dimension n (4 lanes; the N % 4 tail is scalar); exp(A·Δ) uses `expv` (~1 ulp).
import { expv, hsum, silu, siluv, softplus, softplusv } from './common';

/**
 * The state update and C contraction of one channel: h[n] = exp(Δ·A[n])·h[n] + (Δ·B[n])·x; returns Σ_n h[n]·C[n].
 * Ac, sc: this channel's rows of A and state (N).
 */
// @ts-ignore: decorator
@inline function channel(Ac: usize, sc: usize, B: usize, C: usize, N: i32, dt: f32, xv: f32): f32 {
  const N4 = N & ~3;
  const vdt = f32x4.splat(dt), vx = f32x4.splat(xv);
  let acc = f32x4.splat(0);
  for (let n = 0; n < N4; n += 4) {
    const no = <usize>n << 2;
    const dA = expv(f32x4.mul(v128.load(Ac + no), vdt));
    const dBx = f32x4.mul(f32x4.mul(vdt, v128.load(B + no)), vx); // HF order: (Δ·B)·x
    const s = f32x4.add(f32x4.mul(dA, v128.load(sc + no)), dBx);
    v128.store(sc + no, s);
    acc = f32x4.add(acc, f32x4.mul(s, v128.load(C + no)));
  }
  let sum = hsum(acc);
  for (let n = N4; n < N; n++) {
    const no = <usize>n << 2;
    const dA = <f32>Math.exp(<f64>(load<f32>(Ac + no) * dt));
    const s = dA * load<f32>(sc + no) + (dt * load<f32>(B + no)) * xv;
    store<f32>(sc + no, s);
    sum += s * load<f32>(C + no);
  }
  return sum;
}

/**
 * One token: for every channel c,
 *   Δ = softplus(delta[c]); h[c,n] = exp(Δ·A[c,n])·h[c,n] + (Δ·B[n])·x[c]; y[c] = (Σ_n h[c,n]·C[n] + D[c]·x[c])·silu(z[c]).
 * y, x, delta, z, D: (E); A, state: (E, N); B, C: (N). `state` is updated in place.
 * Channels go 4 at a time so softplus(Δ), silu(z), the D skip and the gate are computed 4 lanes at once
 * (`softplusv`, `siluv`); the per-channel state loop runs over n in 4 lanes.
 */
export function selectiveScanStep(y: usize, x: usize, delta: usize, A: usize, B: usize, C: usize, D: usize, z: usize, state: usize, E: i32, N: i32): void {
  scanChannels(y, x, delta, A, B, C, D, z, state, N, 0, E);
}

/** {@link selectiveScanStep} over channels [c0, c1) only: 4 at a time from c0, then one at a time. */
// @ts-ignore: decorator
@inline function scanChannels(y: usize, x: usize, delta: usize, A: usize, B: usize, C: usize, D: usize, z: usize, state: usize, N: i32, c0: i32, c1: i32): void {
  const rowBytes = <usize>N * 4;
  let c = c0;
  for (; c + 4 <= c1; c += 4) {
    const co = <usize>c << 2;
    const dt4 = softplusv(v128.load(delta + co));
    const x4 = v128.load(x + co);
    const Ac = A + <usize>c * rowBytes, sc = state + <usize>c * rowBytes;
    let sum4 = f32x4.splat(channel(Ac, sc, B, C, N, f32x4.extract_lane(dt4, 0), f32x4.extract_lane(x4, 0)));
    sum4 = f32x4.replace_lane(sum4, 1, channel(Ac + rowBytes, sc + rowBytes, B, C, N, f32x4.extract_lane(dt4, 1), f32x4.extract_lane(x4, 1)));
    sum4 = f32x4.replace_lane(sum4, 2, channel(Ac + 2 * rowBytes, sc + 2 * rowBytes, B, C, N, f32x4.extract_lane(dt4, 2), f32x4.extract_lane(x4, 2)));
    sum4 = f32x4.replace_lane(sum4, 3, channel(Ac + 3 * rowBytes, sc + 3 * rowBytes, B, C, N, f32x4.extract_lane(dt4, 3), f32x4.extract_lane(x4, 3)));
    const withSkip = f32x4.add(sum4, f32x4.mul(x4, v128.load(D + co)));
    v128.store(y + co, f32x4.mul(withSkip, siluv(v128.load(z + co))));
  }
  for (; c < c1; c++) {
    const co = <usize>c << 2;
    const dt = softplus(load<f32>(delta + co));
    const xv = load<f32>(x + co);
    const sum = channel(A + <usize>c * rowBytes, state + <usize>c * rowBytes, B, C, N, dt, xv);
    const withSkip = sum + xv * load<f32>(D + co);
    store<f32>(y + co, withSkip * silu(load<f32>(z + co)));
  }
}

/**
 * The scan over L tokens, carrying state (E, N): {@link selectiveScanStep} per token.
 * y, x, delta, z: (L, E); B, C: (L, N) with row stride `bcStride` floats (views into x_proj's (L, R+2N) output);
 * A (E, N); D (E).
 */
export function selectiveScan(y: usize, x: usize, delta: usize, A: usize, B: usize, C: usize, D: usize, z: usize, state: usize, L: i32, E: i32, N: i32, bcStride: i32): void {
  selectiveScanRows(y, x, delta, A, B, C, D, z, state, L, E, N, bcStride, 0, E);
}

/**
 * {@link selectiveScan} (L ≥ 1) over channels [c0, c1) only: channels are independent, so a thread pool splits
 * the scan by channel ranges (bounds multiples of 4 give the same bits as one call over all channels).
 */
export function selectiveScanRows(y: usize, x: usize, delta: usize, A: usize, B: usize, C: usize, D: usize, z: usize, state: usize, L: i32, E: i32, N: i32, bcStride: i32, c0: i32, c1: i32): void {
  const rs = <usize>E * 4, bs = <usize>bcStride * 4;
  if (N == 16 && L > 1) {
    // Prefill of Mamba's d_state: channel groups with their state in registers (`scanGroup16`), the < 4 tail below.
    for (; c0 + 4 <= c1; c0 += 4) scanGroup16(y, x, delta, A, B, C, D, z, state, L, rs, bs, c0);
    if (c0 == c1) return;
  }
  for (let t = 0; t < L; t++) {
    const o = <usize>t * rs;
    scanChannels(y + o, x + o, delta + o, A, B + <usize>t * bs, C + <usize>t * bs, D, z + o, state, N, c0, c1);
  }
}

/**
 * Batched decode (one token of each of `S` sequences): row s of x, delta, z, y (S, E) and of B, C (stride
 * `bcStride`) is sequence s's token, and its SSM state (E, N) is at the byte offset `states[s]` (a u32 array of S
 * offsets). Channels [c0, c1) only. Each row is exactly {@link selectiveScanRows} with L = 1 on its own state, so
 * a sequence's result is the same bits as its own `step`.
 */
export function selectiveScanBatchRows(y: usize, x: usize, delta: usize, A: usize, B: usize, C: usize, D: usize, z: usize, states: usize, S: i32, E: i32, N: i32, bcStride: i32, c0: i32, c1: i32): void {
  const rs = <usize>E * 4, bs = <usize>bcStride * 4;
  for (let s = 0; s < S; s++) {
    const o = <usize>s * rs;
    scanChannels(y + o, x + o, delta + o, A, B + <usize>s * bs, C + <usize>s * bs, D, z + o, <usize>load<u32>(states + (<usize>s << 2)), N, c0, c1);
  }
}

/** One 4-lane slice of a channel's state update: exp(Δ·A[n])·h[n] + (Δ·B[n])·x, as in {@link channel}. */
// @ts-ignore: decorator
@inline function upd(a: v128, vdt: v128, s: v128, b: v128, vx: v128): v128 {
  return f32x4.add(f32x4.mul(expv(f32x4.mul(a, vdt)), s), f32x4.mul(f32x4.mul(vdt, b), vx));
}

/**
 * Prefill with N = 16: channels [c, c+4) over all L tokens, each channel's state in registers from the first token
 * to the last instead of loaded and stored per token. Pass 1 writes Δ = softplus(delta) of the 4 channels into
 * their columns of y for every token; pass 2 runs two channels at a time through the L tokens (their 2 × 4 state
 * vectors in locals, A reloaded from L1), replacing Δ in y by Σ_n h[n]·C[n]; pass 3 applies the D skip and the
 * silu(z) gate 4 channels at a time. Every lane does the operations of {@link scanChannels} / {@link channel} in
 * the same order, so the bits are those of L single-token steps (the decode path).
 * Measured one thread, L = 64, E/2 = 1024 channels (the small shape's half per thread): 1.5× the token-outer loop.
 */
// @ts-ignore: decorator
@inline function scanGroup16(y: usize, x: usize, delta: usize, A: usize, B: usize, C: usize, D: usize, z: usize, state: usize, L: i32, rs: usize, bs: usize, c: i32): void {
  const co = <usize>c << 2;
  for (let t = 0; t < L; t++) {
    const o = <usize>t * rs + co;
    v128.store(y + o, softplusv(v128.load(delta + o)));
  }
  for (let j = 0; j < 4; j += 2) {
    const cj = co + (<usize>j << 2);
    const Ac = A + <usize>(c + j) * 64, sc = state + <usize>(c + j) * 64;
    let s0 = v128.load(sc), s1 = v128.load(sc, 16), s2 = v128.load(sc, 32), s3 = v128.load(sc, 48);
    let r0 = v128.load(sc, 64), r1 = v128.load(sc, 80), r2 = v128.load(sc, 96), r3 = v128.load(sc, 112);
    let yp = y + cj, xp = x + cj, bp = B, cp = C;
    for (let t = 0; t < L; t++) {
      const vdt = f32x4.splat(load<f32>(yp)), vx = f32x4.splat(load<f32>(xp));
      const wdt = f32x4.splat(load<f32>(yp, 4)), wx = f32x4.splat(load<f32>(xp, 4));
      s0 = upd(v128.load(Ac), vdt, s0, v128.load(bp), vx);
      r0 = upd(v128.load(Ac, 64), wdt, r0, v128.load(bp), wx);
      let acc = f32x4.add(f32x4.splat(0), f32x4.mul(s0, v128.load(cp)));
      let acd = f32x4.add(f32x4.splat(0), f32x4.mul(r0, v128.load(cp)));
      s1 = upd(v128.load(Ac, 16), vdt, s1, v128.load(bp, 16), vx);
      r1 = upd(v128.load(Ac, 80), wdt, r1, v128.load(bp, 16), wx);
      acc = f32x4.add(acc, f32x4.mul(s1, v128.load(cp, 16)));
      acd = f32x4.add(acd, f32x4.mul(r1, v128.load(cp, 16)));
      s2 = upd(v128.load(Ac, 32), vdt, s2, v128.load(bp, 32), vx);
      r2 = upd(v128.load(Ac, 96), wdt, r2, v128.load(bp, 32), wx);
      acc = f32x4.add(acc, f32x4.mul(s2, v128.load(cp, 32)));
      acd = f32x4.add(acd, f32x4.mul(r2, v128.load(cp, 32)));
      s3 = upd(v128.load(Ac, 48), vdt, s3, v128.load(bp, 48), vx);
      r3 = upd(v128.load(Ac, 112), wdt, r3, v128.load(bp, 48), wx);
      acc = f32x4.add(acc, f32x4.mul(s3, v128.load(cp, 48)));
      acd = f32x4.add(acd, f32x4.mul(r3, v128.load(cp, 48)));
      store<f32>(yp, hsum(acc));
      store<f32>(yp, hsum(acd), 4);
      yp += rs; xp += rs; bp += bs; cp += bs;
    }
    v128.store(sc, s0); v128.store(sc, s1, 16); v128.store(sc, s2, 32); v128.store(sc, s3, 48);
    v128.store(sc, r0, 64); v128.store(sc, r1, 80); v128.store(sc, r2, 96); v128.store(sc, r3, 112);
  }
  for (let t = 0; t < L; t++) {
    const o = <usize>t * rs + co;
    const withSkip = f32x4.add(v128.load(y + o), f32x4.mul(v128.load(x + o), v128.load(D + co)));
    v128.store(y + o, f32x4.mul(withSkip, siluv(v128.load(z + o))));
  }
}
