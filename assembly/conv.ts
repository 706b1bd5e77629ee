// Causal depthwise conv over time with the silu that follows it fused (HF `slow_forward`:
// `act(conv1d(x)[..., :L])`), hence the names `causalConv1dSilu…`. Twins of `causalConv1d` / `causalConv1dStep` in
// src/reference/ops.ts, which leave silu to the caller: here out = silu(reference out).
//
// Channels are independent, so the kernel works on a channel range [c0, c1) (the unit a thread pool hands out)
// and, for K ≤ 4 (Mamba's d_conv is 4), on 4 channels at a time: their K weights are gathered into K vectors once,
// then each token is one 16-byte load of x per tap from a row that stays in L1, instead of the per-channel walk
// down a column of x (a stride of E floats per token) that cost 154 ms of a 2.8 s prefill on the small shape.
// Every lane does the scalar path's arithmetic in the same order (bias, then + w_k·x_k for k = 0..K−1, then silu
// through `siluv`), so the result is the same bits whatever the range boundaries.
import { siluv } from './common';

/** Lanes = the f32 at p, p + s, p + 2s, p + 3s. */
// @ts-ignore: decorator
@inline function gather4(p: usize, s: usize): v128 {
  let v = f32x4.splat(load<f32>(p));
  v = f32x4.replace_lane(v, 1, load<f32>(p + s));
  v = f32x4.replace_lane(v, 2, load<f32>(p + 2 * s));
  return f32x4.replace_lane(v, 3, load<f32>(p + 3 * s));
}

/** silu of one value through the vector formula, so scalar and vector lanes agree bit for bit. */
// @ts-ignore: decorator
@inline function silu1(a: f32): f32 {
  return f32x4.extract_lane(siluv(f32x4.splat(a)), 0);
}

/**
 * {@link causalConv1dSilu} over channels [c0, c1) only (state rows of those channels updated; L ≥ 1).
 */
export function causalConv1dSiluRows(out: usize, x: usize, w: usize, bias: usize, convState: usize, L: i32, E: i32, K: i32, c0: i32, c1: i32): void {
  const H = K - 1;
  const xs = <usize>E * 4, Kb = <usize>K * 4, Hb = <usize>H * 4;
  let c = c0;
  if (K <= 4) {
    for (; c + 4 <= c1; c += 4) {
      const co = <usize>c << 2;
      const wc = w + <usize>c * Kb, st = convState + <usize>c * Hb;
      const w0 = gather4(wc, Kb);
      const w1 = K > 1 ? gather4(wc + 4, Kb) : f32x4.splat(0);
      const w2 = K > 2 ? gather4(wc + 8, Kb) : f32x4.splat(0);
      const w3 = K > 3 ? gather4(wc + 12, Kb) : f32x4.splat(0);
      const b4 = bias ? v128.load(bias + co) : f32x4.splat(0);
      for (let t = 0; t < L; t++) {
        // tap k reads x[t − H + k]: from the state while that is before this call's first token.
        let acc = b4;
        let tau = t - H;
        acc = f32x4.add(acc, f32x4.mul(w0, tau < 0 ? gather4(st + (<usize>(H + tau) << 2), Hb) : v128.load(x + <usize>tau * xs + co)));
        if (K > 1) {
          tau++;
          acc = f32x4.add(acc, f32x4.mul(w1, tau < 0 ? gather4(st + (<usize>(H + tau) << 2), Hb) : v128.load(x + <usize>tau * xs + co)));
        }
        if (K > 2) {
          tau++;
          acc = f32x4.add(acc, f32x4.mul(w2, tau < 0 ? gather4(st + (<usize>(H + tau) << 2), Hb) : v128.load(x + <usize>tau * xs + co)));
        }
        if (K > 3) {
          tau++;
          acc = f32x4.add(acc, f32x4.mul(w3, tau < 0 ? gather4(st + (<usize>(H + tau) << 2), Hb) : v128.load(x + <usize>tau * xs + co)));
        }
        v128.store(out + <usize>t * xs + co, siluv(acc));
      }
      // The new state: the last H inputs (reading old state slots only above the ones already written).
      for (let j = 0; j < H; j++) {
        const tau = L - H + j;
        const v = tau < 0 ? gather4(st + (<usize>(H + tau) << 2), Hb) : v128.load(x + <usize>tau * xs + co);
        const sj = st + (<usize>j << 2);
        store<f32>(sj, f32x4.extract_lane(v, 0));
        store<f32>(sj + Hb, f32x4.extract_lane(v, 1));
        store<f32>(sj + 2 * Hb, f32x4.extract_lane(v, 2));
        store<f32>(sj + 3 * Hb, f32x4.extract_lane(v, 3));
      }
    }
  }
  for (; c < c1; c++) {
    const st = convState + <usize>c * Hb;
    const wc = w + <usize>c * Kb;
    const b: f32 = bias ? load<f32>(bias + (<usize>c << 2)) : 0;
    const xc = x + (<usize>c << 2);
    for (let t = 0; t < L; t++) {
      let acc: f32 = b;
      for (let k = 0; k < K; k++) {
        const tau = t - H + k;
        const v = tau < 0 ? load<f32>(st + (<usize>(H + tau) << 2)) : load<f32>(xc + <usize>tau * xs);
        acc += load<f32>(wc + (<usize>k << 2)) * v;
      }
      store<f32>(out + <usize>t * xs + (<usize>c << 2), silu1(acc));
    }
    for (let j = 0; j < H; j++) {
      const tau = L - H + j;
      const v = tau < 0 ? load<f32>(st + (<usize>(H + tau) << 2)) : load<f32>(xc + <usize>tau * xs);
      store<f32>(st + (<usize>j << 2), v);
    }
  }
}

/**
 * out (L, E) = silu(bias (E) + Σ_k w (E, K)[c, k] · x[t − (K−1) + k, c]) over x (L, E) preceded by
 * convState (E, K−1) (the last K−1 inputs, oldest first), which is then replaced by the last K−1 inputs
 * including this call's. `bias = 0` for none.
 */
export function causalConv1dSilu(out: usize, x: usize, w: usize, bias: usize, convState: usize, L: i32, E: i32, K: i32): void {
  causalConv1dSiluRows(out, x, w, bias, convState, L, E, K, 0, E);
}

/** One token of {@link causalConv1dSilu}: x (E) → out (E) = silu(conv), shifting convState (E, K−1) left by one. */
export function causalConv1dSiluStep(out: usize, x: usize, w: usize, bias: usize, convState: usize, E: i32, K: i32): void {
  causalConv1dSiluRows(out, x, w, bias, convState, 1, E, K, 0, E);
}

/**
 * Batched decode (one token of each of `S` sequences): row s of `x` (S, E) is sequence s's token, and its conv
 * state (E, K−1) is at the byte offset `states[s]` (a u32 array of S offsets). Channels [c0, c1) only.
 * Each row is exactly {@link causalConv1dSiluRows} with L = 1 on its own state, so a sequence's result is the same
 * bits as its own `step`.
 */
export function causalConv1dSiluBatchRows(out: usize, x: usize, w: usize, bias: usize, states: usize, S: i32, E: i32, K: i32, c0: i32, c1: i32): void {
  const rs = <usize>E * 4;
  for (let s = 0; s < S; s++) {
    const o = <usize>s * rs;
    causalConv1dSiluRows(out + o, x + o, w, bias, <usize>load<u32>(states + (<usize>s << 2)), 1, E, K, c0, c1);
  }
}
