// The sampler's steps one by one, against values computed by hand from HF's LogitsProcessor definitions,
// and the PRNG's determinism and uniformity.
import { describe, expect, it } from 'vitest';
import {
  applyMinP, applyRepetitionPenalty, applyTemperature, applyTopK, applyTopP, argmax, sampleFromLogits, sampleToken, samplerOptionsProblem, xoshiro128ss,
} from '../../src/generate/index.ts';

const NEG = -Infinity;
const f = (...x: number[]) => Float32Array.from(x);

describe('sampler steps (HF LogitsProcessor semantics)', () => {
  it('repetition penalty divides positive and multiplies negative logits of seen ids, once each', () => {
    const l = f(2, -2, 1, 4);
    applyRepetitionPenalty(l, [0, 1, 1, 1], 2);
    expect([...l]).toEqual([1, -4, 1, 4]);
  });

  it('temperature divides', () => {
    const l = f(1, -2, 4);
    applyTemperature(l, 0.5);
    expect([...l]).toEqual([2, -4, 8]);
  });

  it('top-k keeps the k largest and ties with the k-th', () => {
    const l = f(1, 3, 2, 3, 0);
    applyTopK(l, 2);
    expect([...l]).toEqual([NEG, 3, NEG, 3, NEG]);
    const t = f(1, 3, 2, 2, 0);
    applyTopK(t, 2);
    expect([...t]).toEqual([NEG, 3, 2, 2, NEG]);
  });

  it('top-p keeps the smallest most-likely set whose mass exceeds P', () => {
    // probabilities 0.5, 0.3, 0.15, 0.05 (as logs)
    const p = [0.5, 0.3, 0.15, 0.05];
    const l = f(...p.map(Math.log));
    applyTopP(l, 0.75); // ascending cumulative 0.05, 0.20 ≤ 1 − 0.75 are removed; 0.50 > 0.25 stops
    expect([...l].map((x) => x === NEG)).toEqual([false, false, true, true]);
    const m = f(...p.map(Math.log));
    applyTopP(m, 0.4); // cumulative 0.05, 0.20, 0.50 ≤ 0.6 are removed: only the top token stays
    expect([...m].map((x) => x === NEG)).toEqual([false, true, true, true]);
  });

  it('min-p masks tokens below m × the top probability', () => {
    const p = [0.5, 0.3, 0.15, 0.05];
    const l = f(...p.map(Math.log));
    applyMinP(l, 0.4); // threshold 0.2
    expect([...l].map((x) => x === NEG)).toEqual([false, false, true, true]);
  });

  it('argmax takes the first of ties (torch.argmax)', () => {
    expect(argmax(f(1, 5, 5, 2))).toBe(1);
  });

  it('greedy ignores the warpers but keeps the repetition penalty', () => {
    const l = f(3, 2.5, 0);
    expect(sampleToken(l, [], { temperature: 0, topK: 1 }, () => 0.99)).toBe(0);
    expect(sampleToken(l, [0], { temperature: 0, repetitionPenalty: 2 }, () => 0)).toBe(1);
    expect([...l]).toEqual([3, 2.5, 0]); // input not modified
  });

  it('order: top-k runs after temperature and before top-p', () => {
    // After top-k 2 only ids 0 and 1 remain; top-p 0.5 then keeps only id 0.
    const l = f(2, 1, 1.5);
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) seen.push(sampleToken(l, [], { temperature: 1, topK: 2, topP: 0.5 }, xoshiro128ss(i)));
    expect(new Set(seen)).toEqual(new Set([0]));
  });

  it('sampling follows softmax (inverse CDF)', () => {
    const l = f(Math.log(0.25), Math.log(0.75));
    expect(sampleFromLogits(l, () => 0.2)).toBe(0);
    expect(sampleFromLogits(l, () => 0.3)).toBe(1);
    const r = xoshiro128ss(5);
    let ones = 0;
    for (let i = 0; i < 20000; i++) ones += sampleFromLogits(l, r);
    expect(ones / 20000).toBeGreaterThan(0.73);
    expect(ones / 20000).toBeLessThan(0.77);
  });

  it('option checks name the option', () => {
    expect(samplerOptionsProblem({ topK: 1.5 })).toMatch(/topK/);
    expect(samplerOptionsProblem({ minP: 2 })).toMatch(/minP/);
    expect(samplerOptionsProblem({ repetitionPenalty: 0 })).toMatch(/repetitionPenalty/);
    expect(samplerOptionsProblem({ temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05 })).toBeNull();
  });
});

describe('xoshiro128** PRNG', () => {
  it('is deterministic per seed, differs across seeds, stays in [0, 1)', () => {
    const a = xoshiro128ss(123), b = xoshiro128ss(123), c = xoshiro128ss(124);
    const xa = Array.from({ length: 8 }, a), xb = Array.from({ length: 8 }, b), xc = Array.from({ length: 8 }, c);
    expect(xb).toEqual(xa);
    expect(xc).not.toEqual(xa);
    const r = xoshiro128ss(0);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const x = r();
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
    }
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.02);
  });
});
