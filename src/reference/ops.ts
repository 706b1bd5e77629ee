/**
 * The reference operators of a Mamba-1 / FalconMamba block, written to be read beside the paper
 * (Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", 2023, §3 and Algorithm 2)
 * and Hugging Face's `MambaMixer.slow_forward` / `FalconMambaMixer.slow_forward`.
 *
 * Symbols (docs/math.md §1, the one table for code and docs): L tokens in this call, H = dModel, E = dInner (the
 * paper's E·D: here E is the inner width itself, not the expansion factor), N = dState, K = dConv, R = dtRank,
 * V = vocabSize; `D` (E) is only ever the skip vector (HF `mixer.D`). The steps each function computes are
 * numbered in docs/math.md §5. Matrices are row-major; a linear layer's
 * weight is `[out, in]` as in `nn.Linear`.
 *
 * Numerics: values are stored in Float32Array (as PyTorch's float32 stores them); reductions accumulate in
 * JavaScript's float64 and are rounded once when stored, which is at least as accurate as PyTorch's f32 sums.
 * Elementwise steps round through `Math.fround` where PyTorch would round to f32.
 *
 * Every function writes into an output passed first and takes sizes explicitly (llama2.c style), so the
 * WebAssembly twins in `assembly/` can share names and argument order. None copies data into temporaries;
 * the only objects made per token are typed-array views (`subarray`, no copy): the embedding row `embed`
 * copies from, and the dt/B/C rows `dtBCRmsNorm` hands to `rmsNorm`, for readability.
 */

const f = Math.fround;

/** silu(a) = a · σ(a) = a / (1 + e^(−a)). The activation of the conv output and of the gate z. */
export function silu(a: number): number {
  return f(a / (1 + Math.exp(-a)));
}

/**
 * softplus(a) = log(1 + e^a), PyTorch's `F.softplus` with beta = 1 and threshold = 20 (above it, a itself).
 * Turns the raw time step into a positive Δ (paper §3.2, τ_Δ = softplus).
 */
export function softplus(a: number): number {
  return a > 20 ? a : f(Math.log1p(Math.exp(a)));
}

/**
 * out (L, n) = rms(x (L, n)) · weight (n), row by row:  x · 1/sqrt(mean(x²) + eps), then · weight.
 * HF `MambaRMSNorm.forward` / FalconMamba `rms_forward`: normalize in f32, then multiply by the gain.
 * `weight = null` gives the weightless norm FalconMamba applies to dt, B and C.
 * `out` may alias `x`.
 */
export function rmsNorm(
  out: Float32Array,
  x: Float32Array,
  weight: Float32Array | null,
  L: number,
  n: number,
  eps: number,
): void {
  for (let t = 0; t < L; t++) {
    const row = t * n;
    let sumSq = 0;
    for (let i = 0; i < n; i++) sumSq += x[row + i] * x[row + i];
    const inv = f(1 / Math.sqrt(f(f(sumSq / n) + eps)));
    for (let i = 0; i < n; i++) {
      const normed = f(x[row + i] * inv);
      out[row + i] = weight ? f(normed * weight[i]) : normed;
    }
  }
}

/**
 * out (L, outF) = x (L, inF) @ W (outF, inF)ᵀ + bias (outF).  PyTorch `nn.Linear`.
 * `bias = null` for layers without one. `out` must not alias `x`.
 */
export function linear(
  out: Float32Array,
  x: Float32Array,
  W: Float32Array,
  bias: Float32Array | null,
  L: number,
  inF: number,
  outF: number,
): void {
  for (let t = 0; t < L; t++) {
    const xr = t * inF;
    for (let o = 0; o < outF; o++) {
      const wr = o * inF;
      let acc = bias ? bias[o] : 0;
      for (let i = 0; i < inF; i++) acc += W[wr + i] * x[xr + i];
      out[t * outF + o] = acc;
    }
  }
}

/**
 * out (L, H) = table (V, H)[ids (L)]: the token embedding.
 */
export function embed(out: Float32Array, table: Float32Array, ids: ArrayLike<number>, L: number, H: number): void {
  for (let t = 0; t < L; t++) out.set(table.subarray(ids[t] * H, (ids[t] + 1) * H), t * H);
}

/**
 * Causal depthwise convolution over time, with history (PyTorch `nn.Conv1d(groups=E, padding=K-1)` keeping
 * the first L outputs; paper Figure 3's "Conv"):
 *
 *   out[t, c] = bias[c] + Σ_{k=0..K-1} w[c, k] · x[t − (K−1) + k, c]
 *
 * where x at times before this call comes from `convState` (E, K−1): the last K−1 inputs seen, oldest first
 * (zeros for a fresh sequence). On return `convState` holds the last K−1 inputs including this call's, so
 * calls can be chained over chunks of a sequence. `w` is conv1d.weight (E, 1, K) read as (E, K); `w[c, K−1]`
 * multiplies the current token. `bias = null` when `use_conv_bias` is false.
 *
 * x (L, E) → out (L, E). The silu that follows is applied by the caller.
 */
export function causalConv1d(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  convState: Float32Array,
  L: number,
  E: number,
  K: number,
): void {
  const P = K - 1; // history length
  for (let c = 0; c < E; c++) {
    for (let t = 0; t < L; t++) {
      let acc = bias ? bias[c] : 0;
      for (let k = 0; k < K; k++) acc += w[c * K + k] * convInput(x, convState, c, t - P + k, E, P);
      out[t * E + c] = acc;
    }
    // Keep the last K−1 inputs (oldest first) for the next call. In place: when L < K−1, entry j reads the
    // history at j + L, which is not yet overwritten since j only grows.
    for (let j = 0; j < P; j++) convState[c * P + j] = convInput(x, convState, c, L - P + j, E, P);
  }
}

/** Channel c's input at time τ of this call: τ < 0 reads the history `convState` (E, P), else x (L, E). */
function convInput(x: Float32Array, convState: Float32Array, c: number, tau: number, E: number, P: number): number {
  return tau < 0 ? convState[c * P + P + tau] : x[tau * E + c];
}

/**
 * One token of {@link causalConv1d}: x (E) → out (E), shifting `convState` (E, K−1) left by one.
 * The same as HF's decode path (`conv_state.roll(-1)`, write the newest column, multiply and sum over K).
 */
export function causalConv1dStep(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  convState: Float32Array,
  E: number,
  K: number,
): void {
  const P = K - 1;
  for (let c = 0; c < E; c++) {
    const s = c * P;
    let acc = bias ? bias[c] : 0;
    for (let k = 0; k < P; k++) acc += w[c * K + k] * convState[s + k];
    acc += w[c * K + P] * x[c];
    out[c] = acc;
    for (let k = 0; k < P - 1; k++) convState[s + k] = convState[s + k + 1];
    if (P > 0) convState[s + P - 1] = x[c];
  }
}

/**
 * FalconMamba's only addition to Mamba-1: after x_proj, a weightless RMS norm of each of dt (R), B (N) and
 * C (N), each over its own width, eps = `mixer_rms_eps` (HF `FalconMambaMixer.slow_forward`, `rms_forward`).
 * dbc (L, R+2N) is normalized in place; dt is normalized *before* dt_proj.
 */
export function dtBCRmsNorm(dbc: Float32Array, L: number, R: number, N: number, eps: number): void {
  const W = R + 2 * N;
  for (let t = 0; t < L; t++) {
    const dt = dbc.subarray(t * W, t * W + R);
    const B = dbc.subarray(t * W + R, t * W + R + N);
    const C = dbc.subarray(t * W + R + N, t * W + W);
    rmsNorm(dt, dt, null, 1, R, eps);
    rmsNorm(B, B, null, 1, N, eps);
    rmsNorm(C, C, null, 1, N, eps);
  }
}

/**
 * The recurrence of one channel c for one token, the heart of the selective scan (paper §3.2, Algorithm 2;
 * HF `slow_forward` loop body), with Δ = softplus(delta) already taken:
 *
 *   h[c,n] = exp(Δ · A[c,n]) · h[c,n] + (Δ · B[n]) · x        (zero-order-hold A, Euler B)
 *
 * Updates h[c, ·] in `state` (E, N) and returns Σ_n h[c,n] · C[n], rounded to f32. B[n] and C[n] are read
 * at `b + n`, so one token's row of a (L, N) array can be passed as is. Shared by {@link selectiveScan} and the
 * oracle's {@link selectiveScanParts}, so both do exactly the same arithmetic.
 */
export function scanChannel(c: number, dt: number, x: number, A: Float32Array, B: Float32Array, C: Float32Array, state: Float32Array, N: number, b = 0): number {
  let acc = 0;
  for (let n = 0; n < N; n++) {
    const i = c * N + n;
    const dA = f(Math.exp(f(A[i] * dt)));
    const dBx = f(f(dt * B[b + n]) * x); // HF order: (dt · B) first, then · x
    state[i] = f(f(dA * state[i]) + dBx);
    acc += state[i] * C[b + n];
  }
  return f(acc);
}

/**
 * One step of the selective scan for one token: {@link selectiveScan} with L = 1.
 *
 *   Δ      = softplus(delta[c])                 (delta already includes dt_proj's bias)
 *   h[c,n] = exp(Δ · A[c,n]) · h[c,n] + (Δ · B[n]) · x[c]        ({@link scanChannel})
 *   y[c]   = (Σ_n h[c,n] · C[n] + D[c] · x[c]) · silu(z[c])
 *
 * x (E) is the conv output after silu, delta (E) the time step before softplus, A (E, N) = −exp(A_log),
 * B (N), C (N), D (E), z (E) the gate. `state` (E, N) = h is updated in place; y (E) is written.
 */
export function selectiveScanStep(
  y: Float32Array,
  x: Float32Array,
  delta: Float32Array,
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  D: Float32Array,
  z: Float32Array,
  state: Float32Array,
  E: number,
  N: number,
): void {
  selectiveScan(y, x, delta, A, B, C, D, z, state, 1, E, N);
}

/**
 * The selective scan over a sequence (docs/math.md §5 steps 9 and 11–13): for t = 0..L−1, carrying `state` (E, N),
 * the formulas of {@link selectiveScanStep} on row t. The recurrence is the only sequential dependency of the
 * model; nothing of size (L, E, N) is materialized.
 *
 * x, delta, z, y: (L, E); B, C: (L, N) read with row stride `bcStride` (they are views into x_proj's
 * (L, R+2N) output, so the stride is R+2N); A (E, N); D (E); state (E, N).
 */
export function selectiveScan(
  y: Float32Array,
  x: Float32Array,
  delta: Float32Array,
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  D: Float32Array,
  z: Float32Array,
  state: Float32Array,
  L: number,
  E: number,
  N: number,
  bcStride: number = N,
): void {
  for (let t = 0; t < L; t++) {
    for (let c = 0; c < E; c++) {
      const tc = t * E + c;
      const yScan = scanChannel(c, softplus(delta[tc]), x[tc], A, B, C, state, N, t * bcStride);
      const withSkip = f(yScan + f(x[tc] * D[c]));
      y[tc] = f(withSkip * silu(z[tc]));
    }
  }
}

/**
 * Trace-only (the oracle, docs/oracle.md): the intermediates that {@link selectiveScan} fuses away, computed
 * with exactly its arithmetic so that `ySkip · silu(z)` rounds to the fused output bit for bit:
 *
 *   dt[t, c]    = softplus(delta[t, c])                               (L, E)
 *   yScan[t, c] = Σ_n h[c, n] · C[t, n]      (after the state update)   (L, E)
 *   ySkip[t, c] = yScan[t, c] + x[t, c] · D[c]                         (L, E)
 *
 * `state` (E, N) is advanced like the fused scan's, so pass a copy of the state the fused scan started from.
 * Shapes and strides as in {@link selectiveScan}. Never called on the non-trace path.
 */
export function selectiveScanParts(
  dt: Float32Array,
  yScan: Float32Array,
  ySkip: Float32Array,
  x: Float32Array,
  delta: Float32Array,
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  D: Float32Array,
  state: Float32Array,
  L: number,
  E: number,
  N: number,
  bcStride: number = N,
): void {
  for (let t = 0; t < L; t++) {
    const b = t * bcStride;
    for (let c = 0; c < E; c++) {
      const tc = t * E + c;
      dt[tc] = softplus(delta[tc]);
      yScan[tc] = scanChannel(c, dt[tc], x[tc], A, B, C, state, N, b);
      ySkip[tc] = f(yScan[tc] + f(x[tc] * D[c]));
    }
  }
}
