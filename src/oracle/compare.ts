/**
 * Compares two traces tensor by tensor, in forward order, so the first tensor outside tolerance names the
 * step where two implementations part ways (docs/oracle.md).
 *
 * Rule, elementwise, with `b` as the reference:
 *
 *   |a − b| ≤ atol + rtol · max(|b|, rms(b))
 *
 * where rms(b) is the root mean square of the whole reference tensor. Relative to the element, so tensors of
 * very different magnitude share one rule (style.md); but never relative to less than the tensor's own scale,
 * because an f32 sum's rounding error scales with the terms summed, not with a result that cancels to ≈ 0
 * (an element-only rule flags harmless near-zero logits). "max rel" reports the same ratio. NaN equals NaN
 * and ±∞ equals itself; any other NaN is a divergence.
 */
import { sortForward } from './names.ts';
import type { TraceTensor } from './trace.ts';

/** Tolerance of {@link compareTraces}. */
export interface TraceTolerance {
  /** Absolute part of the allowance. */
  atol: number;
  /** Relative part, times |reference|. */
  rtol: number;
}

/** Options of {@link compareTraces}. */
export interface CompareOptions extends Partial<TraceTolerance> {
  /**
   * Count a tensor present in only one trace as a divergence. Off by default: a backend or port may trace
   * a subset, and such tensors are listed with status `only-a` / `only-b` without failing the comparison.
   */
  strict?: boolean;
}

/**
 * The default tolerance. The reference's fp32 trace of the fixture models agrees with transformers' to
 * 1.1e-5 (worst max-rel over every tensor, spec/oracle/hf-trace.spec.ts), so rtol 1e-4 leaves a 10× margin;
 * a planted bug moves values by 1e-2 and more. For bf16 / quantized backends pass a looser rtol.
 */
export const DEFAULT_TRACE_TOLERANCE: Readonly<TraceTolerance> = { atol: 1e-6, rtol: 1e-4 };

/** How one tensor compared. */
export type TensorStatus = 'ok' | 'diverged' | 'shape' | 'only-a' | 'only-b';

/** One row of a comparison. */
export interface TensorComparison {
  /** The tensor's trace name. */
  name: string;
  /** Shape in trace a / b (null where absent). */
  shapeA: number[] | null;
  /** Shape in trace b (null where absent). */
  shapeB: number[] | null;
  /** max |a − b| (NaN when not compared). */
  maxAbs: number;
  /** max |a − b| / max(|b|, rms(b)) (NaN when not compared). */
  maxRel: number;
  /** The element with the largest error / allowance ratio, or null when not compared. */
  worst: {
    /** Flat (row-major) index of the element. */
    index: number;
    /** Its value in trace a. */
    a: number;
    /** Its value in trace b. */
    b: number;
  } | null;
  /** Elements outside tolerance. */
  bad: number;
  /** ok, diverged (values), shape (mismatch), only-a / only-b (missing in the other trace). */
  status: TensorStatus;
  /** Within tolerance (a missing tensor is ok unless `strict`). */
  ok: boolean;
}

/** The result of {@link compareTraces}. */
export interface TraceComparison {
  /** One row per name in either trace, in forward order. */
  rows: TensorComparison[];
  /** The first row not ok, or null. */
  first: TensorComparison | null;
  /** Every row ok. */
  ok: boolean;
  /** Tensors compared element by element. */
  compared: number;
  /** The tolerance applied. */
  tolerance: TraceTolerance;
  /** Whether tensors in one trace only counted as divergences. */
  strict: boolean;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function compareValues(a: Float32Array, b: Float32Array, tol: TraceTolerance) {
  let sumSq = 0;
  let finite = 0;
  for (let i = 0; i < b.length; i++) {
    if (Number.isFinite(b[i])) {
      sumSq += b[i] * b[i];
      finite++;
    }
  }
  const rms = finite ? Math.sqrt(sumSq / finite) : 0;
  let maxAbs = 0;
  let maxRel = 0;
  let worstRatio = -1;
  let worst = 0;
  let bad = 0;
  for (let i = 0; i < b.length; i++) {
    const x = a[i];
    const y = b[i];
    let err: number;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) err = 0;
    else err = Math.abs(x - y); // NaN when exactly one is NaN, ∞ for mismatched infinities
    if (Number.isNaN(err)) err = Infinity;
    const scale = Math.max(Number.isFinite(y) ? Math.abs(y) : 0, rms);
    const allow = tol.atol + tol.rtol * scale;
    const ratio = err === 0 ? 0 : err / allow;
    if (ratio > 1) bad++;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
    if (err > maxAbs) maxAbs = err;
    if (err > 0) {
      const rel = scale > 0 ? err / scale : Infinity;
      if (rel > maxRel) maxRel = rel;
    }
  }
  return { maxAbs, maxRel, bad, worst: b.length ? { index: worst, a: a[worst], b: b[worst] } : null };
}

/**
 * Compares trace `a` against the reference trace `b`: every name in either, ordered by
 * src/oracle/names.ts's forward order (unknown names after, in a's then b's order).
 */
export function compareTraces(a: readonly TraceTensor[], b: readonly TraceTensor[], options: CompareOptions = {}): TraceComparison {
  const tolerance: TraceTolerance = {
    atol: options.atol ?? DEFAULT_TRACE_TOLERANCE.atol,
    rtol: options.rtol ?? DEFAULT_TRACE_TOLERANCE.rtol,
  };
  const strict = options.strict ?? false;
  const byA = new Map(a.map((t) => [t.name, t]));
  const byB = new Map(b.map((t) => [t.name, t]));
  const names = sortForward(new Set([...byA.keys(), ...byB.keys()]));
  const rows: TensorComparison[] = [];
  let compared = 0;
  for (const name of names) {
    const ta = byA.get(name);
    const tb = byB.get(name);
    const row: TensorComparison = {
      name,
      shapeA: ta ? [...ta.shape] : null,
      shapeB: tb ? [...tb.shape] : null,
      maxAbs: NaN,
      maxRel: NaN,
      worst: null,
      bad: 0,
      status: 'ok',
      ok: true,
    };
    if (!ta || !tb) {
      row.status = ta ? 'only-a' : 'only-b';
      row.ok = !strict;
    } else if (!sameShape(ta.shape, tb.shape) || ta.data.length !== tb.data.length) {
      row.status = 'shape';
      row.ok = false;
    } else {
      compared++;
      const v = compareValues(ta.data, tb.data, tolerance);
      row.maxAbs = v.maxAbs;
      row.maxRel = v.maxRel;
      row.worst = v.worst;
      row.bad = v.bad;
      row.ok = v.bad === 0;
      row.status = row.ok ? 'ok' : 'diverged';
    }
    rows.push(row);
  }
  const first = firstDivergence(rows);
  return { rows, first, ok: first === null, compared, tolerance, strict };
}

/** The first row (in the given order) that is not within tolerance, or null. */
export function firstDivergence(rows: readonly TensorComparison[]): TensorComparison | null {
  return rows.find((r) => !r.ok) ?? null;
}
