// Random GGUF blocks for the specs of the block-type unpacking (spec/gguf/unpack.spec.ts, spec/kernels/qk.spec.ts).
import { GGML_BLOCK } from '../../src/io/gguf.ts';
import type { UnpackType } from '../../src/reference/ggml-unpack.ts';
import { rng } from './tiny-model.ts';

/** The types the qk layout holds. */
export const QK_TYPES: UnpackType[] = ['Q4_1', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'];

/** Byte offsets of each block's f16 fields (scales, mins) by type. */
const HALVES: Record<string, number[]> = {
  Q8_0: [0], Q4_0: [0], Q5_0: [0], Q4_1: [0, 2], Q5_1: [0, 2], Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208],
};

/**
 * `n` random blocks of `type`: random bytes, with each f16 field a finite value of magnitude ~2^(e−15),
 * e ∈ [e0, e0+3] (so scales and mins are of one order, as in real files), random sign.
 */
export function randomBlocks(type: UnpackType, n: number, seed: number, e0 = 12): Uint8Array {
  const r = rng(seed);
  const bb = GGML_BLOCK[type].bytes;
  const b = Uint8Array.from({ length: n * bb }, () => (r() * 256) | 0);
  for (let k = 0; k < n; k++) {
    for (const off of HALVES[type]) {
      const h = (r() < 0.5 ? 0x8000 : 0) | ((e0 + ((r() * 4) | 0)) << 10) | ((r() * 1024) | 0);
      b[k * bb + off] = h & 255;
      b[k * bb + off + 1] = h >> 8;
    }
  }
  return b;
}

