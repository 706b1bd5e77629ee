/**
 * Quantized weights (src/reference/quant.ts ↔ assembly/quant.ts), seeded property tests over awkward shapes:
 *   (a) error bounds of quantize → dequantize: q8 |x − deq| ≤ d/2 (round to nearest, no clamping: |x/d| ≤ 127);
 *       q4 |x − deq| ≤ |d| (round to nearest except the far end x/d ∈ (7.5, 8], clamped to q 15: error ≤ |d|);
 *       the same q8 bound for the activation quantizer;
 *   (b) kernel = reference integer-dot twin: the activation quants bit-exact, the outputs within
 *       1e-5 · max_o Σ|deq(w)·deq(x)| (f32 summation order vs f64; the block dots are exact integers);
 *   (b') the decode matvec (L = 1, any row split) = the prefill tile's rows (L = 4), bit for bit;
 *   (c) twin = f32 `linear` on dequantized weights, within 1e-9 · magnitude + 2^-23 · |out| (both sum in f64, then round to f32); the integer twin =
 *       `linear` on dequantized weights and activations within 2^-22 · magnitude (it rounds d_w·d_x to f32 once
 *       per block, where the dequantized operands round d_w·q_w and d_x·q_x: a few ulps of each term).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { embed, linear } from '../../src/reference/ops.ts';
import {
  blockIndex,
  blocksPerRow,
  paddedRows,
  quantValue,
  dequantize,
  linearQ,
  linearQInt,
  quantize,
  quantizeActivationQ8,
  blockDotsQ,
  type QuantActivation,
  type QuantMatrix,
} from '../../src/reference/quant.ts';
import { expectClose } from '../helpers/close.ts';
import { rng, randomArray } from '../helpers/tiny-model.ts';
import { WasmHarness, type QuantSource } from '../helpers/wasm-harness.ts';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/goldens.ts';

const COLS = [1, 3, 5, 17, 31, 32, 33, 64, 95, 100, 1024]; // nb 1, 2, 3, 4, 32: the decode loop's odd and even block counts
const shapeArb = fc.record({
  rows: fc.integer({ min: 1, max: 67 }),
  cols: fc.constantFrom(...COLS),
  L: fc.integer({ min: 1, max: 9 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
  scale: fc.constantFrom(1e-3, 1, 30),
});
const RUNS = { seed: 20261129, numRuns: 60 };

/** Random weights with outliers and all-zero runs, the cases that stress block scales. */
function weights(n: number, scale: number, seed: number): Float32Array {
  const r = rng(seed);
  const a = randomArray(n, scale, r);
  for (let i = 0; i < n; i++) {
    const u = r();
    if (u < 0.02) a[i] *= 20; // outlier
    else if (u < 0.04) a[i] = 0;
  }
  if (n > 40 && r() < 0.5) a.fill(0, 0, 40); // a whole zero block
  return a;
}

function dequantAct(a: QuantActivation): Float32Array {
  const nb = a.blocksPerRow;
  const out = new Float32Array(a.L * a.n);
  for (let t = 0; t < a.L; t++) {
    for (let c = 0; c < a.n; c++) out[t * a.n + c] = Math.fround(a.scales[t * nb + (c >> 5)] * a.quants[t * nb * 32 + c]);
  }
  return out;
}

/** max over outputs of Σ_i |W[o,i]·x[t,i]|: the scale of rounding errors in a dot product. */
function magnitude(W: Float32Array, x: Float32Array, L: number, inF: number, outF: number): number {
  let m = 0;
  for (let t = 0; t < L; t++) {
    for (let o = 0; o < outF; o++) {
      let s = 0;
      for (let i = 0; i < inF; i++) s += Math.abs(W[o * inF + i] * x[t * inF + i]);
      m = Math.max(m, s);
    }
  }
  return m;
}

describe('quantize / dequantize error bounds', () => {
  for (const kind of ['q8', 'q4'] as const) {
    it(`${kind}: |x − deq| ≤ ${kind === 'q8' ? 'd/2' : '|d|'} per block, padding quants are value 0`, () => {
      fc.assert(
        fc.property(shapeArb, ({ rows, cols, seed, scale }) => {
          const W = weights(rows * cols, scale, seed);
          const Q = quantize(kind, W, rows, cols);
          const D = dequantize(Q);
          const nb = blocksPerRow(cols);
          for (let r = 0; r < rows; r++) {
            for (let c = 0; c < cols; c++) {
              const d = Math.abs(Q.scales[blockIndex(nb, r, c >> 5)]);
              const bound = kind === 'q8' ? d / 2 : d;
              const err = Math.abs(W[r * cols + c] - D[r * cols + c]);
              // d is rounded to f32, so allow a relative 2^-20 on top of the exact-arithmetic bound.
              if (err > bound * (1 + 2 ** -20) + 1e-45) {
                throw new Error(`${kind} [${r},${c}] x ${W[r * cols + c]} deq ${D[r * cols + c]} err ${err} > bound ${bound}`);
              }
            }
          }
          // Padding (columns past cols, and the extra row of an odd count) holds value 0.
          const padded = { ...Q, rows: paddedRows(rows), cols: nb * 32 };
          for (let r = 0; r < padded.rows; r++) {
            for (let c = r < rows ? cols : 0; c < nb * 32; c++) {
              const v = quantValue(padded, r, c);
              if (v !== 0) throw new Error(`${kind} padding [${r},${c}] = ${v}`);
            }
          }
        }),
        RUNS,
      );
    });
  }

  it('activation q8: |x − deq| ≤ d/2', () => {
    fc.assert(
      fc.property(shapeArb, ({ L, cols, seed, scale }) => {
        const x = weights(L * cols, scale, seed);
        const a = quantizeActivationQ8(x, L, cols);
        const D = dequantAct(a);
        for (let t = 0; t < L; t++) {
          for (let c = 0; c < cols; c++) {
            const d = a.scales[t * a.blocksPerRow + (c >> 5)];
            const err = Math.abs(x[t * cols + c] - D[t * cols + c]);
            if (err > (d / 2) * (1 + 2 ** -20) + 1e-45) throw new Error(`act [${t},${c}] err ${err} > ${d / 2}`);
          }
        }
      }),
      RUNS,
    );
  });
});

describe('reference twins = f32 linear on dequantized operands', () => {
  for (const kind of ['q8', 'q4'] as const) {
    it(`${kind}: linearQ = linear(deq W); linearQInt = linear(deq W, deq x)`, () => {
      fc.assert(
        fc.property(shapeArb, fc.boolean(), ({ rows, cols, L, seed, scale }, withBias) => {
          const r = rng(seed ^ 0x5bd1e995);
          const W = weights(rows * cols, scale, seed);
          const x = randomArray(L * cols, 1, r);
          const bias = withBias ? randomArray(rows, 0.5, r) : null;
          const Q = quantize(kind, W, rows, cols);
          const Wd = dequantize(Q);
          const want = new Float32Array(L * rows);
          const got = new Float32Array(L * rows);
          linear(want, x, Wd, bias, L, cols, rows);
          linearQ(got, x, Q, bias, L, cols, rows);
          const mag = magnitude(Wd, x, L, cols, rows) + 1e-30;
          expectClose(got, want, { atol: 1e-9 * mag, rtol: 2 ** -23 }, `${kind} linearQ rows ${rows} cols ${cols} L ${L}`);

          const a = quantizeActivationQ8(x, L, cols);
          const xd = dequantAct(a);
          linear(want, xd, Wd, bias, L, cols, rows);
          linearQInt(got, a, Q, bias, L, cols, rows);
          expectClose(got, want, { atol: 2 ** -22 * mag, rtol: 2 ** -23 }, `${kind} linearQInt rows ${rows} cols ${cols} L ${L}`);
        }),
        { ...RUNS, numRuns: 30 },
      );
    });
  }
});

/** The kernel-vs-twin property for one harness. */
function kernelMatchesTwin(h: () => WasmHarness, kind: 'q8' | 'q4'): void {
  fc.assert(
    fc.property(shapeArb, fc.boolean(), fc.boolean(), ({ rows, cols, L, seed, scale }, withBias, split) => {
      const w = h();
      w.reset();
      const r = rng(seed ^ 0x2545f491);
      const W = weights(rows * cols, scale, seed);
      const x = weights(L * cols, 1, seed + 7);
      for (let i = 0; i < x.length; i++) x[i] += (r() - 0.5) * 1e-3;
      const bias = withBias ? randomArray(rows, 0.5, r) : null;
      const Q: QuantMatrix = quantize(kind, W, rows, cols);
      const nb = Q.blocksPerRow;

      // Activation quantization: bit-exact.
      const a = quantizeActivationQ8(x, L, cols);
      const xp = w.put(x);
      const xqp = w.alloc(L * nb * 32);
      const xdp = w.alloc(L * nb * 4);
      w.q.quantizeActivationQ8(xqp, xdp, xp, L, cols);
      expect(Array.from(w.i8(xqp, L * nb * 32))).toEqual(Array.from(a.quants)); // stored as int8 by the kernel
      expect(Array.from(w.f32(xdp, L * nb))).toEqual(Array.from(a.scales));

      const want = new Float32Array(L * rows);
      linearQInt(want, a, Q, bias, L, cols, rows);
      const wqp = w.put(Q.quants);
      const wdp = w.put(Q.scales);
      const bp = bias ? w.put(bias) : 0;
      const outp = w.alloc(L * rows * 4);
      const fn = kind === 'q8' ? w.q.linearQ8Rows : w.q.linearQ4Rows;
      if (split && rows > 2) {
        const mid = 1 + ((r() * (rows - 1)) | 0); // [0, mid) and [mid, rows), as two threads would
        fn(outp, xqp, xdp, wqp, wdp, bp, L, cols, rows, 0, mid);
        fn(outp, xqp, xdp, wqp, wdp, bp, L, cols, rows, mid, rows);
      } else {
        (kind === 'q8' ? w.q.linearQ8 : w.q.linearQ4)(outp, xqp, xdp, wqp, wdp, bp, L, cols, rows);
      }
      const got = w.f32(outp, L * rows);
      const mag = magnitude(dequantize(Q), dequantAct(a), L, cols, rows) + 1e-30;
      expectClose(got, want, { atol: 1e-5 * mag, rtol: 0 }, `${kind} kernel rows ${rows} cols ${cols} L ${L} split ${split}`);
    }),
    RUNS,
  );
}

/**
 * The decode matvec (L = 1: row pairs, two blocks per iteration, a row alone for an odd bound) gives each output
 * the same bits as the 4-token prefill tile (L = 4, one row at a time) and as any split of its rows into two
 * `…Rows` calls: per output both add f32(block dot)·(d_x·d_w) block by block in order, then `hsum`, then the bias
 * (the rule docs/kernels.md states; the engine's step = prefill rows and 2 threads = 1 thread rely on it). Bit
 * equality, so a reordered or skipped block fails here even where it stays inside the twin's tolerance.
 */
function decodeSameBits(h: () => WasmHarness, kind: 'q8' | 'q4'): void {
  const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));
  fc.assert(
    fc.property(shapeArb, fc.boolean(), fc.integer({ min: 0, max: 1 << 30 }), ({ rows, cols, seed, scale }, withBias, cut) => {
      const w = h();
      w.reset();
      const r = rng(seed ^ 0x1b873593);
      const L = 4;
      const Q: QuantMatrix = quantize(kind, weights(rows * cols, scale, seed), rows, cols);
      const nb = Q.blocksPerRow;
      const xqp = w.alloc(L * nb * 32);
      const xdp = w.alloc(L * nb * 4);
      w.q.quantizeActivationQ8(xqp, xdp, w.put(weights(L * cols, 1, seed + 3)), L, cols);
      const wqp = w.put(Q.quants);
      const wdp = w.put(Q.scales);
      const bp = withBias ? w.put(randomArray(rows, 0.5, r)) : 0;
      const tile = w.alloc(L * rows * 4);
      const one = w.alloc(rows * 4);
      const fn = kind === 'q8' ? w.q.linearQ8Rows : w.q.linearQ4Rows;
      fn(tile, xqp, xdp, wqp, wdp, bp, L, cols, rows, 0, rows);
      const mid = cut % (rows + 1); // any row, odd ones included
      for (let t = 0; t < L; t++) {
        const xq = xqp + t * nb * 32, xd = xdp + t * nb * 4;
        fn(one, xq, xd, wqp, wdp, bp, 1, cols, rows, 0, mid);
        fn(one, xq, xd, wqp, wdp, bp, 1, cols, rows, mid, rows);
        const got = w.f32(one, rows), want = w.f32(tile + t * rows * 4, rows);
        const a = bits(got), b = bits(want);
        for (let o = 0; o < rows; o++) {
          if (a[o] !== b[o]) throw new Error(`${kind} rows ${rows} cols ${cols} token ${t} split at ${mid}: decode row ${o} = ${got[o]}, prefill tile ${want[o]} (bits differ)`);
        }
      }
    }),
    { ...RUNS, numRuns: 40 },
  );
}

/**
 * The kernels' integer step = the twin's integer block dots, exactly: arbitrary quants (not only what the
 * quantizers make), biased toward the extremes (q8 ±127, q4 nibbles 0 and 15, activations ±127) where an i16
 * intermediate would overflow first, over rows 1..9 and up to 40 blocks.
 */
function blockDotsExact(h: () => WasmHarness, kind: 'q8' | 'q4'): void {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 1 << 30 }), fc.double({ min: 0, max: 1, noNaN: true }), (rows, nb, seed, extreme) => {
      const w = h();
      w.reset();
      const r = rng(seed);
      const pick = (lo: number, hi: number) => (r() < extreme ? (r() < 0.5 ? lo : hi) : lo + Math.floor(r() * (hi - lo + 1)));
      const R = paddedRows(rows);
      const quants = kind === 'q8' ? Int8Array.from({ length: R * nb * 32 }, () => pick(-127, 127)) : Uint8Array.from({ length: R * nb * 16 }, () => pick(0, 15) | (pick(0, 15) << 4));
      const Q: QuantMatrix = { kind, rows, cols: nb * 32, blocksPerRow: nb, quants, scales: new Float32Array(R * nb).fill(1) };
      const a: QuantActivation = { L: 1, n: nb * 32, blocksPerRow: nb, quants: Int16Array.from({ length: nb * 32 }, () => pick(-127, 127)), scales: new Float32Array(nb).fill(1) };
      const want = blockDotsQ(Q, a, 0);
      const outp = w.alloc(rows * nb * 4);
      w.q.blockDotsQ(kind === 'q8' ? 8 : 4, outp, w.put(Int8Array.from(a.quants)), w.put(quants), nb, rows);
      const got = new Int32Array(w.u8(outp, rows * nb * 4).buffer);
      for (let i = 0; i < want.length; i++) {
        if (got[i] !== want[i]) throw new Error(`${kind} block dot (row ${Math.floor(i / nb)}, block ${i % nb}): kernel ${got[i]}, twin ${want[i]}`);
      }
    }),
    { ...RUNS, numRuns: 200 },
  );
}

/** embedQ8 / embedQ4 = embed on the dequantized table, bit-exact. */
function embedMatches(h: () => WasmHarness, kind: 'q8' | 'q4'): void {
  fc.assert(
    fc.property(shapeArb, ({ rows, cols, L, seed, scale }) => {
      const w = h();
      w.reset();
      const Q = quantize(kind, weights(rows * cols, scale, seed), rows, cols);
      const r = rng(seed);
      const ids = Int32Array.from({ length: L }, () => (r() * rows) | 0);
      const want = new Float32Array(L * cols);
      embed(want, dequantize(Q), ids, L, cols);
      const outp = w.alloc(L * cols * 4);
      (kind === 'q8' ? w.q.embedQ8 : w.q.embedQ4)(outp, w.put(Q.quants), w.put(Q.scales), w.put(ids), L, cols);
      expect(Array.from(w.f32(outp, L * cols))).toEqual(Array.from(want));
    }),
    { ...RUNS, numRuns: 30 },
  );
}

/** f16 bits → f32 value (exact). */
function f16(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

/** The wasm load-time quantizers (f32 / bf16 / f16 sources) = quantizeQ8 / quantizeQ4 on the f32 values, byte for byte. */
function quantizerMatches(h: () => WasmHarness, kind: 'q8' | 'q4'): void {
  fc.assert(
    fc.property(shapeArb, fc.constantFrom(0, 1, 2), ({ rows, cols, seed, scale }, dtype) => {
      const w = h();
      w.reset();
      let W = weights(rows * cols, scale, seed);
      let src: ArrayBufferView = W;
      if (dtype === 1) {
        const bits = new Uint16Array(rows * cols);
        const u = new Uint32Array(W.buffer);
        for (let i = 0; i < bits.length; i++) bits[i] = u[i] >>> 16;
        W = new Float32Array(new Uint32Array(Array.from(bits, (b) => b << 16)).buffer);
        src = bits;
      } else if (dtype === 2) {
        const r = rng(seed);
        const bits = Uint16Array.from({ length: rows * cols }, () => ((r() * 0xffff) | 0) & ~(r() < 0.3 ? 0x7800 : 0x4000));
        W = Float32Array.from(bits, f16);
        src = bits;
      }
      const Q = quantize(kind, W, rows, cols);
      const wq = w.alloc(Q.quants.byteLength);
      const wd = w.alloc(Q.scales.byteLength);
      (kind === 'q8' ? w.q.quantizeQ8 : w.q.quantizeQ4)(wq, wd, w.put(src), rows, cols, dtype);
      expect(w.u8(wq, Q.quants.byteLength)).toEqual(new Uint8Array(Q.quants.buffer));
      expect(w.f32(wd, Q.scales.length)).toEqual(Q.scales);
    }),
    { ...RUNS, numRuns: 40 },
  );
}

describe('assembly/quant.ts kernels = reference integer-dot twin', () => {
  // assembly/quant.ts compiled alone, plain and relaxed SIMD (the q4 kernels' integer path differs between them).
  for (const source of ['standalone', 'standalone-relaxed'] as QuantSource[]) {
    describe(source, () => {
      let h: WasmHarness;
      beforeAll(async () => {
        h = await WasmHarness.quant(source);
      });
      for (const kind of ['q8', 'q4'] as const) {
        it(`${kind} integer block dots = blockDotsQ, exactly`, () => blockDotsExact(() => h, kind));
        it(`${kind} linear = linearQInt`, () => kernelMatchesTwin(() => h, kind));
        it(`${kind} decode (L = 1, any row split) = the prefill tile's rows, bit for bit`, () => decodeSameBits(() => h, kind));
        if (source === 'standalone') {
          it(`embed ${kind}`, () => embedMatches(() => h, kind));
          it(`quantize ${kind} from f32 / bf16 / f16`, () => quantizerMatches(() => h, kind));
        }
      }
    });
  }

  // The engine's modules: only when `npm run build` has made them with the quantized kernels.
  for (const source of ['build', 'build-relaxed'] as QuantSource[]) {
    const built = join(REPO, 'build', source === 'build' ? 'kernels.wasm' : 'kernels-relaxed.wasm');
    const hasBuild = existsSync(built) && source === 'build' && WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(built))).some((e) => e.name === 'blockDotsQ');
    // The relaxed module cannot be inspected before the flag is on; it is built with the plain one.
    const has = source === 'build' ? hasBuild : existsSync(built) && existsSync(join(REPO, 'build', 'kernels.wasm'));
    describe.skipIf(!has)(`build/${source === 'build' ? 'kernels.wasm' : 'kernels-relaxed.wasm'}`, () => {
      let h: WasmHarness;
      beforeAll(async () => {
        h = await WasmHarness.quant(source);
      });
      for (const kind of ['q8', 'q4'] as const) {
        it(`${kind} integer block dots`, () => blockDotsExact(() => h, kind));
        it(kind, () => kernelMatchesTwin(() => h, kind));
        it(`${kind} decode = prefill tile rows, bit for bit`, () => decodeSameBits(() => h, kind));
        it(`embed ${kind}`, () => embedMatches(() => h, kind));
        it(`quantize ${kind}`, () => quantizerMatches(() => h, kind));
      }
    });
  }
});
