/**
 * The state-path equivalences every backend must satisfy, shared by spec/reference/state.spec.ts and
 * spec/wasm/engine.spec.ts: stepping = the sequence path, and prefill in chunks = one prefill.
 */
import { expect } from 'vitest';
import type { Model, ModelState } from '../../src/index.ts';
import { expectClose, type Tolerance } from './close.ts';
import { rng } from './tiny-model.ts';

/** n seeded random token ids below V. */
export function randomIds(n: number, V: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * V));
}

/** `step` through `ids` from a fresh state gives the `forward` row at every position. */
export async function expectStepMatchesForward(model: Model, ids: number[], tol: Tolerance, label: string): Promise<void> {
  const V = model.config.vocabSize;
  const all = await model.forward(ids);
  const state = model.createState();
  for (let t = 0; t < ids.length; t++) {
    expectClose(await model.step(state, ids[t]), all.subarray(t * V, (t + 1) * V), tol, `${label} position ${t}`);
  }
  expect(state.position).toBe(ids.length);
}

/**
 * Prefill of `ids` in chunks of the lengths `cuts` (cycled) equals one prefill: last logits, ssm and conv
 * state, position. Returns the one-shot state for further checks.
 */
export async function expectChunkedPrefillMatches(model: Model, ids: number[], cuts: number[], tol: Tolerance): Promise<ModelState> {
  const one = model.createState();
  const a = await model.prefill(one, ids);
  const chunked = model.createState();
  let b: Float32Array = new Float32Array(0);
  for (let at = 0, k = 0; at < ids.length; k++) {
    const len = Math.min(cuts[k % cuts.length], ids.length - at);
    b = await model.prefill(chunked, ids.slice(at, at + len));
    at += len;
  }
  expectClose(b, a, tol, 'last logits');
  expectClose(chunked.ssm, one.ssm, tol, 'ssm state');
  expectClose(chunked.conv, one.conv, tol, 'conv state');
  expect(chunked.position).toBe(one.position);
  return one;
}
