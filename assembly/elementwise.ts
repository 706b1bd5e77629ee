// Small data movers of the block: the residual add and a strided row gather.

/** h (n) += o (n): the residual add after out_proj (HF `MambaBlock.forward`: `residual + hidden_states`). */
export function residualAdd(h: usize, o: usize, n: i32): void {
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    const p = <usize>i << 2;
    v128.store(h + p, f32x4.add(v128.load(h + p), v128.load(o + p)));
  }
  for (let i = n4; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(h + p, load<f32>(h + p) + load<f32>(o + p));
  }
}

/** out (L, n) = x[t·stride .. t·stride + n) for each t: e.g. dt (L, R) out of x_proj's (L, R+2N) output. */
export function copyRows(out: usize, x: usize, L: i32, n: i32, stride: i32): void {
  for (let t = 0; t < L; t++) memory.copy(out + <usize>t * <usize>n * 4, x + <usize>t * <usize>stride * 4, <usize>n * 4);
}

/**
 * Σ of `bytes` bytes from `p` read as f32x4 lanes with 4 independent accumulators (the bench's memory-bandwidth
 * ceiling: the fastest a single thread can stream memory through wasm SIMD). `bytes` is a multiple of 64.
 */
export function streamRead(p: usize, bytes: usize): f32 {
  let a = f32x4.splat(0), b = f32x4.splat(0), c = f32x4.splat(0), d = f32x4.splat(0);
  const end = p + bytes;
  for (let q = p; q < end; q += 64) {
    a = f32x4.add(a, v128.load(q));
    b = f32x4.add(b, v128.load(q, 16));
    c = f32x4.add(c, v128.load(q, 32));
    d = f32x4.add(d, v128.load(q, 48));
  }
  const s = f32x4.add(f32x4.add(a, b), f32x4.add(c, d));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}
