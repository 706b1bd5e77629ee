/**
 * Float comparison for specs with a stated rule:  |actual − expected| ≤ atol + rtol·|expected|  elementwise.
 * On failure the message names the worst element (index, both values, its error and its allowance).
 */
export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface CloseReport {
  ok: boolean;
  /** Index of the element with the largest error / allowance ratio. */
  worst: number;
  maxAbs: number;
  message: string;
}

/** Compares two arrays under the rule; never throws. */
export function compareClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label = ''): CloseReport {
  if (actual.length !== expected.length) {
    return { ok: false, worst: -1, maxAbs: Infinity, message: `${label}: length ${actual.length} != expected ${expected.length}` };
  }
  let worst = 0;
  let worstRatio = -1;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const allow = tol.atol + tol.rtol * Math.abs(expected[i]);
    const ratio = Number.isNaN(err) ? Infinity : err / allow;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
    if (!(err <= maxAbs)) maxAbs = err;
  }
  const ok = worstRatio <= 1;
  const i = worst;
  const message =
    `${label}: worst element [${i}] actual ${actual[i]} expected ${expected[i]} ` +
    `|diff| ${Math.abs(actual[i] - expected[i]).toExponential(3)} vs allowed ${(tol.atol + tol.rtol * Math.abs(expected[i])).toExponential(3)} ` +
    `(rule |a-b| <= ${tol.atol} + ${tol.rtol}*|ref|); max |diff| ${maxAbs.toExponential(3)} over ${expected.length} values`;
  return { ok, worst, maxAbs, message };
}

/** Throws (failing the spec) with the worst element when the rule does not hold. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label = ''): CloseReport {
  const r = compareClose(actual, expected, tol, label);
  if (!r.ok) throw new Error(r.message);
  return r;
}

/** Index of the largest value in row `row` of a (rows, n) array. */
export function argmaxRow(a: ArrayLike<number>, n: number, row = 0): number {
  let best = row * n;
  for (let i = row * n + 1; i < (row + 1) * n; i++) if (a[i] > a[best]) best = i;
  return best - row * n;
}
