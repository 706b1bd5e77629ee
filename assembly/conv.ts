// Causal depthwise conv over time with the silu that follows it fused (HF `slow_forward`:
// `act(conv1d(x)[..., :L])`). Twins of `causalConv1d` / `causalConv1dStep` in src/reference/ops.ts, which leave
// silu to the caller: here out = silu(reference out). E·K·L multiply-adds per layer is tiny next to the matmuls,
// so the conv stays scalar; the silu runs afterwards over the whole output, 4 lanes at a time (`siluv`: the
// scalar f64 exp per channel cost ~0.5 ms per decoded token on the small shape).
import { siluInPlace } from './common';

/**
 * out (L, E) = silu(bias (E) + Σ_k w (E, K)[c, k] · x[t − (K−1) + k, c]) over x (L, E) preceded by
 * convState (E, K−1) (the last K−1 inputs, oldest first), which is then replaced by the last K−1 inputs
 * including this call's. `bias = 0` for none.
 */
export function causalConv1d(out: usize, x: usize, w: usize, bias: usize, convState: usize, L: i32, E: i32, K: i32): void {
  const H = K - 1;
  const xs = <usize>E * 4;
  for (let c = 0; c < E; c++) {
    const st = convState + <usize>c * <usize>H * 4;
    const wc = w + <usize>c * <usize>K * 4;
    const b: f32 = bias ? load<f32>(bias + (<usize>c << 2)) : 0;
    const xc = x + (<usize>c << 2);
    for (let t = 0; t < L; t++) {
      let acc: f32 = b;
      for (let k = 0; k < K; k++) {
        const tau = t - H + k;
        const v = tau < 0 ? load<f32>(st + (<usize>(H + tau) << 2)) : load<f32>(xc + <usize>tau * xs);
        acc += load<f32>(wc + (<usize>k << 2)) * v;
      }
      store<f32>(out + <usize>t * xs + (<usize>c << 2), acc);
    }
    // New history: inputs at times L−H .. L−1. Ascending j reads index L+j ≥ j of the old history, not yet overwritten.
    for (let j = 0; j < H; j++) {
      const tau = L - H + j;
      const v = tau < 0 ? load<f32>(st + (<usize>(H + tau) << 2)) : load<f32>(xc + <usize>tau * xs);
      store<f32>(st + (<usize>j << 2), v);
    }
  }
  siluInPlace(out, L * E);
}

/** One token of {@link causalConv1d}: x (E) → out (E) = silu(conv), shifting convState (E, K−1) left by one. */
export function causalConv1dStep(out: usize, x: usize, w: usize, bias: usize, convState: usize, E: i32, K: i32): void {
  const H = K - 1;
  for (let c = 0; c < E; c++) {
    const st = convState + <usize>c * <usize>H * 4;
    const wc = w + <usize>c * <usize>K * 4;
    const xv = load<f32>(x + (<usize>c << 2));
    let acc: f32 = bias ? load<f32>(bias + (<usize>c << 2)) : 0;
    for (let k = 0; k < H; k++) acc += load<f32>(wc + (<usize>k << 2)) * load<f32>(st + (<usize>k << 2));
    acc += load<f32>(wc + (<usize>H << 2)) * xv;
    store<f32>(out + (<usize>c << 2), acc);
    for (let k = 0; k < H - 1; k++) store<f32>(st + (<usize>k << 2), load<f32>(st + (<usize>k << 2), 4));
    if (H > 0) store<f32>(st + (<usize>(H - 1) << 2), xv);
  }
  siluInPlace(out, E);
}
