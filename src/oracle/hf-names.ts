/**
 * Traces made from transformers by fixtures/make_fixtures.py (fixtures/README.md, "Traces") use this
 * project's names (src/oracle/names.ts) except for the final states, which they keep in HF's layout:
 *
 * | HF trace                          | ours                                  |
 * |-----------------------------------|---------------------------------------|
 * | `layers.{i}.state.conv` (E, K)    | `layers.{i}.mixer.conv_state` (E, K−1) = columns 1..K−1 (HF also keeps the oldest column, which the next token no longer needs) |
 * | `layers.{i}.state.ssm` (E, N)     | `layers.{i}.mixer.ssm_state` (E, N)   |
 * | —                                 | `layers.{i}.mixer.x_proj.out` (L, R+2N) = [dt | B | C], rebuilt from `x_proj.dt/B/C` |
 *
 * {@link fromHfTrace} maps an HF trace onto our names so the two compare name for name.
 */
import type { TraceTensor } from './trace.ts';

const HF_STATE = /^layers\.(\d+)\.state\.(conv|ssm)$/;

/**
 * Whether a trace looks like one made from transformers by the fixtures script: its metadata names a
 * `transformers` version, or it has HF-layout state names.
 */
export function isHfTrace(tensors: readonly TraceTensor[], metadata: Record<string, string> = {}): boolean {
  return 'transformers' in metadata || tensors.some((t) => HF_STATE.test(t.name));
}

/**
 * Renames and reshapes an HF trace onto this project's names (table above); other tensors pass unchanged.
 * `dConv` (K, from the trace's config) decides whether a conv state of width K needs its oldest column
 * dropped; without it an HF conv state is assumed to have HF's width K.
 */
export function fromHfTrace(tensors: readonly TraceTensor[], dConv?: number): TraceTensor[] {
  const out: TraceTensor[] = [];
  const names = new Set(tensors.map((t) => t.name));
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const t of tensors) {
    const m = HF_STATE.exec(t.name);
    if (!m) {
      out.push(t);
      // Rebuild x_proj.out = [dt | B | C] right after its last part, when the trace lacks it.
      const xp = /^(layers\.\d+\.mixer\.x_proj\.)C$/.exec(t.name);
      if (xp && !names.has(xp[1] + 'out')) {
        const parts = ['dt', 'B', 'C'].map((p) => byName.get(xp[1] + p));
        if (parts.every((p) => p && p.shape.length === 2 && p.shape[0] === t.shape[0])) {
          out.push(concatColumns(xp[1] + 'out', parts as TraceTensor[]));
        }
      }
      continue;
    }
    const [, layer, which] = m;
    if (which === 'ssm') {
      out.push({ name: `layers.${layer}.mixer.ssm_state`, shape: [...t.shape], data: t.data });
      continue;
    }
    const [E, width] = t.shape;
    const dropOldest = t.shape.length === 2 && width >= 1 && (dConv === undefined || width === dConv);
    if (!dropOldest) {
      out.push({ name: `layers.${layer}.mixer.conv_state`, shape: [...t.shape], data: t.data });
      continue;
    }
    const kept = new Float32Array(E * (width - 1));
    for (let c = 0; c < E; c++) kept.set(t.data.subarray(c * width + 1, (c + 1) * width), c * (width - 1));
    out.push({ name: `layers.${layer}.mixer.conv_state`, shape: [E, width - 1], data: kept });
  }
  return out;
}

/** Concatenates (L, n_j) tensors along the columns. */
function concatColumns(name: string, parts: readonly TraceTensor[]): TraceTensor {
  const L = parts[0].shape[0];
  const W = parts.reduce((s, p) => s + p.shape[1], 0);
  const data = new Float32Array(L * W);
  for (let t = 0; t < L; t++) {
    let at = t * W;
    for (const p of parts) {
      const n = p.shape[1];
      data.set(p.data.subarray(t * n, (t + 1) * n), at);
      at += n;
    }
  }
  return { name, shape: [L, W], data };
}
