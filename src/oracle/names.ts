/**
 * The names of a trace (docs/oracle.md), in forward order: the order in which a forward pass computes them,
 * which is the order `compare` reports them in, so the first tensor out of tolerance is where two
 * implementations first part ways.
 *
 * Names follow the Hugging Face module names of `FalconMambaForCausalLM` / `MambaForCausalLM` without the
 * `backbone.` prefix (`layers.3.mixer.conv1d` …); steps are those of docs/math.md §5, shapes are in its
 * symbols (§1): L tokens, H = dModel, E = dInner, N = dState, K = dConv, R = dtRank, V = vocabSize. Every
 * tensor is float32, without a batch dimension, token-major (row t = position t).
 */

/** One named quantity of a trace. */
export interface TraceNameInfo {
  /** Name; in {@link TRACE_LAYER_STAGES} relative to the layer prefix `layers.{i}.`. */
  name: string;
  /** Shape in glossary units. */
  shape: string;
  /** What it is, with its step of docs/math.md §5. */
  meaning: string;
  /** Present only for FalconMamba (the weightless dt/B/C RMS norm). */
  falconOnly?: boolean;
}

/** Tensors before the first block. */
export const TRACE_HEAD: readonly TraceNameInfo[] = [
  { name: 'embeddings', shape: '(L, H)', meaning: 'embedding rows of the ids (step 1)' },
];

/** Per layer i, the names after the prefix `layers.{i}.`, in forward order. */
export const TRACE_LAYER_STAGES: readonly TraceNameInfo[] = [
  { name: 'input', shape: '(L, H)', meaning: 'block input = residual stream before block i (the input of step 2)' },
  { name: 'norm', shape: '(L, H)', meaning: 'RMSNorm_i output (step 2)' },
  { name: 'mixer.in_proj.x', shape: '(L, E)', meaning: 'first half of the in_proj output (step 3 x)' },
  { name: 'mixer.in_proj.z', shape: '(L, E)', meaning: 'second half of the in_proj output, the gate (step 3 z)' },
  { name: 'mixer.conv1d.pre_silu', shape: '(L, E)', meaning: 'causal depthwise conv incl. bias, before silu (step 4)' },
  { name: 'mixer.conv1d.out', shape: '(L, E)', meaning: 'conv output after silu, xc (step 5)' },
  {
    name: 'mixer.conv_state',
    shape: '(E, K−1)',
    meaning: 'conv state after this call: the last K−1 pre-conv x columns, oldest first (HF keeps K: its `state.conv` minus column 0)',
  },
  { name: 'mixer.x_proj.out', shape: '(L, R+2N)', meaning: 'x_proj output, [dt | B | C] (step 6)' },
  { name: 'mixer.x_proj.dt', shape: '(L, R)', meaning: 'dt columns of x_proj, raw (step 6)' },
  { name: 'mixer.x_proj.B', shape: '(L, N)', meaning: 'B columns of x_proj, raw (step 6)' },
  { name: 'mixer.x_proj.C', shape: '(L, N)', meaning: 'C columns of x_proj, raw (step 6)' },
  { name: 'mixer.x_proj.dt_normed', shape: '(L, R)', meaning: 'dt after the weightless RMS norm, eps mixer_rms_eps (step 7)', falconOnly: true },
  { name: 'mixer.x_proj.B_normed', shape: '(L, N)', meaning: 'B after the weightless RMS norm (step 7)', falconOnly: true },
  { name: 'mixer.x_proj.C_normed', shape: '(L, N)', meaning: 'C after the weightless RMS norm (step 7)', falconOnly: true },
  { name: 'mixer.dt_proj.out', shape: '(L, E)', meaning: 'dt @ dt_proj.Wᵀ + dt_proj.b, before softplus (step 8)' },
  { name: 'mixer.dt', shape: '(L, E)', meaning: 'Δ = softplus(dt_proj.out) (step 9)' },
  { name: 'mixer.A', shape: '(E, N)', meaning: 'A = −exp(A_log) (step 10)' },
  { name: 'mixer.scan.y', shape: '(L, E)', meaning: 'scan output Σ_n s·C, before the D skip (step 11)' },
  { name: 'mixer.ssm_state', shape: '(E, N)', meaning: 'SSM state s after the last token (step 11)' },
  { name: 'mixer.scan.y_D', shape: '(L, E)', meaning: 'after the D skip, y + xc·D (step 12)' },
  { name: 'mixer.gated', shape: '(L, E)', meaning: 'after the gate, y · silu(z) (step 13)' },
  { name: 'mixer.out_proj.out', shape: '(L, H)', meaning: 'out_proj output = mixer output (step 14)' },
  { name: 'output', shape: '(L, H)', meaning: 'residual stream after block i (step 15)' },
];

/** Tensors after the last block. */
export const TRACE_TAIL: readonly TraceNameInfo[] = [
  { name: 'norm_f', shape: '(L, H)', meaning: 'final RMSNorm output (step 16)' },
  { name: 'logits', shape: '(L, V)', meaning: 'logits of every position (step 17)' },
];

/** The format tag written in a trace file's metadata (the same as the fixtures script's HF traces). */
export const TRACE_FORMAT = 'trace-1';

/**
 * Every name of a full trace of a model with `nLayer` blocks, in forward order; `falcon` includes the
 * dt/B/C norm outputs.
 */
export function traceNames(nLayer: number, falcon: boolean): string[] {
  const names = TRACE_HEAD.map((n) => n.name);
  for (let i = 0; i < nLayer; i++) {
    for (const s of TRACE_LAYER_STAGES) if (falcon || !s.falconOnly) names.push(`layers.${i}.${s.name}`);
  }
  for (const n of TRACE_TAIL) names.push(n.name);
  return names;
}

const LAYER_NAME = /^layers\.(\d+)\.(.+)$/;

/**
 * A sortable key of a known name: `[layer block, stage]` (the head sorts before layer 0 and the tail after
 * every layer), or null for a name not in the list (such names keep their place at the end).
 */
export function forwardKey(name: string): [number, number] | null {
  const head = TRACE_HEAD.findIndex((n) => n.name === name);
  if (head >= 0) return [-1, head];
  const tail = TRACE_TAIL.findIndex((n) => n.name === name);
  if (tail >= 0) return [Number.MAX_SAFE_INTEGER, tail];
  const m = LAYER_NAME.exec(name);
  if (!m) return null;
  const stage = TRACE_LAYER_STAGES.findIndex((s) => s.name === m[2]);
  return stage >= 0 ? [Number(m[1]), stage] : null;
}

/**
 * Orders names for a report: known names in forward order, then unknown names in the order given
 * (a stable sort, so a list already in forward order is unchanged).
 */
export function sortForward(names: Iterable<string>): string[] {
  const list = [...names];
  const keyed = list.map((name, at) => ({ name, at, key: forwardKey(name) }));
  keyed.sort((a, b) => {
    if (a.key && b.key) return a.key[0] - b.key[0] || a.key[1] - b.key[1] || a.at - b.at;
    if (a.key) return -1;
    if (b.key) return 1;
    return a.at - b.at;
  });
  return keyed.map((k) => k.name);
}
