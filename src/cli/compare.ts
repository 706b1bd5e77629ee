/**
 * `falcon-mamba compare A B`: two traces tensor by tensor in forward order (docs/oracle.md); B is the
 * reference. Exit status 0 when every tensor is within tolerance, 1 otherwise.
 */
import process from 'node:process';
import { compareTraces, DEFAULT_TRACE_TOLERANCE, type TensorComparison, type TraceComparison } from '../oracle/compare.ts';
import { readTrace, type Trace } from '../oracle/file.ts';
import { fromHfTrace, isHfTrace } from '../oracle/hf-names.ts';
import { numberFlag, parse, UsageError, type Command } from './common.ts';

const OPTIONS = {
  rtol: { type: 'string' },
  atol: { type: 'string' },
  strict: { type: 'boolean' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A trace file, with an HF trace's names mapped onto ours. */
async function load(path: string): Promise<{ trace: Trace; hf: boolean }> {
  const trace = await readTrace(path);
  const hf = isHfTrace(trace.tensors, trace.metadata);
  if (hf) {
    const k = trace.config?.conv_kernel;
    trace.tensors = fromHfTrace(trace.tensors, typeof k === 'number' ? k : undefined);
  }
  return { trace, hf };
}

function exp(x: number): string {
  if (Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return 'inf';
  return x.toExponential(2).replace(/e([+-])(\d)$/, 'e$10$2');
}

function shapeText(r: TensorComparison): string {
  const s = (x: number[] | null) => (x ? x.join('×') : '–');
  return r.shapeA && r.shapeB && r.shapeA.join() === r.shapeB.join() ? s(r.shapeA) : `${s(r.shapeA)} vs ${s(r.shapeB)}`;
}

const STATUS: Record<TensorComparison['status'], string> = {
  ok: 'ok',
  diverged: 'DIVERGED',
  shape: 'SHAPE MISMATCH',
  'only-a': 'only in A',
  'only-b': 'only in B',
};

/** The position of a flat index in a shape, e.g. [3, 17]. */
function position(index: number, shape: number[] | null): string {
  if (!shape || shape.length === 0) return `[${index}]`;
  const at: number[] = [];
  let rest = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    at.unshift(rest % shape[d]);
    rest = Math.floor(rest / shape[d]);
  }
  return `[${at.join(', ')}]`;
}

/** The table and summary that `compare` prints. */
export function formatComparison(r: TraceComparison, a: string, b: string): string {
  const nameW = Math.max(4, ...r.rows.map((x) => x.name.length));
  const shapeW = Math.max(5, ...r.rows.map((x) => shapeText(x).length));
  const lines = [
    `A: ${a}`,
    `B: ${b} (reference)`,
    `rule: |a-b| <= atol + rtol*max(|b|, rms(b)), atol ${r.tolerance.atol}, rtol ${r.tolerance.rtol}` +
      (r.strict ? ', tensors in one file only fail (--strict)' : ''),
    '',
    `   ${'name'.padEnd(nameW)}  ${'shape'.padEnd(shapeW)}  ${'max|abs|'.padStart(9)}  ${'max rel'.padStart(9)}  status`,
  ];
  for (const x of r.rows) {
    const mark = x === r.first ? '>> ' : '   ';
    const status = STATUS[x.status] + (x === r.first ? '  <-- first outside tolerance' : '');
    lines.push(`${mark}${x.name.padEnd(nameW)}  ${shapeText(x).padEnd(shapeW)}  ${exp(x.maxAbs).padStart(9)}  ${exp(x.maxRel).padStart(9)}  ${status}`);
  }
  lines.push('');
  const bad = r.rows.filter((x) => !x.ok).length;
  const only = r.rows.filter((x) => x.status === 'only-a' || x.status === 'only-b').length;
  lines.push(`${r.compared} tensors compared, ${bad} outside tolerance${only ? `, ${only} in one file only` : ''}.`);
  if (r.first) {
    const f = r.first;
    let detail = STATUS[f.status];
    if (f.worst) {
      detail =
        `${f.bad} of ${f.shapeB!.reduce((s, d) => s * d, 1)} values outside tolerance; worst at ${position(f.worst.index, f.shapeB)}: ` +
        `A ${f.worst.a} vs B ${f.worst.b}`;
    }
    lines.push(`first divergence: ${f.name} (${detail})`);
    // Tensors right before it that only one side has are usually the step the other side skips.
    const gap: string[] = [];
    for (let i = r.rows.indexOf(f) - 1; i >= 0 && (r.rows[i].status === 'only-a' || r.rows[i].status === 'only-b'); i--) {
      gap.unshift(`${r.rows[i].name} (${STATUS[r.rows[i].status]})`);
    }
    if (gap.length) lines.push(`just before it, in one trace only: ${gap.join(', ')}`);
  } else lines.push('no divergence: every tensor is within tolerance.');
  return lines.join('\n');
}

/** The `compare` command. */
export const compareCommand: Command = {
  name: 'compare',
  summary: 'compare two traces in forward order and name the first divergence',
  help: `Usage: falcon-mamba compare A.safetensors B.safetensors [--rtol R] [--atol A] [--strict] [--json]

Compares two traces (from 'falcon-mamba trace', the fixtures script's transformers traces, or your own port's)
tensor by tensor in forward order, B being the reference, and prints for each its max |a-b|, its max relative
error and whether it is within tolerance, marking the first one outside. An element passes when
|a-b| <= atol + rtol*max(|b|, rms(b)) (rms over the whole reference tensor). An HF trace's state names are
mapped onto ours (docs/oracle.md). Exit status: 0 all within tolerance, 1 otherwise, 2 bad usage.

  --rtol R               relative tolerance (default ${DEFAULT_TRACE_TOLERANCE.rtol})
  --atol A               absolute tolerance (default ${DEFAULT_TRACE_TOLERANCE.atol})
  --strict               a tensor present in only one file is a divergence (default: listed, not failed)
  --json                 print one JSON object {ok, first, rows, tolerance, a, b}
  --verbose, -v          stack traces on errors
  --help, -h             this help`,

  async run(argv) {
    const { values: v, positionals } = parse('compare', argv, OPTIONS, true);
    if (v.help) {
      process.stdout.write(this.help + '\n');
      return 0;
    }
    if (positionals.length !== 2) throw new UsageError(`expected two trace files, got ${positionals.length}`, 'compare');
    const rtol = numberFlag('compare', 'rtol', v.rtol, { min: 0 });
    const atol = numberFlag('compare', 'atol', v.atol, { min: 0 });
    const [pa, pb] = positionals;
    const [a, b] = [await load(pa), await load(pb)];
    const r = compareTraces(a.trace.tensors, b.trace.tensors, { rtol, atol, strict: v.strict ?? false });
    const describe = (path: string, t: { trace: Trace; hf: boolean }) =>
      `${path} [${t.trace.metadata.backend ?? (t.hf ? 'transformers ' + (t.trace.metadata.transformers ?? '') : '?')}]`;
    const idsA = JSON.stringify(a.trace.ids);
    const idsB = JSON.stringify(b.trace.ids);
    const idsDiffer = a.trace.ids !== null && b.trace.ids !== null && idsA !== idsB;
    if (v.json) {
      process.stdout.write(
        JSON.stringify({ a: pa, b: pb, ok: r.ok, first: r.first?.name ?? null, tolerance: r.tolerance, idsDiffer, rows: r.rows }) + '\n',
      );
    } else {
      if (idsDiffer) process.stderr.write(`warning: the traces are of different ids (A ${idsA}, B ${idsB})\n`);
      process.stdout.write(formatComparison(r, describe(pa, a), describe(pb, b)) + '\n');
    }
    return r.ok ? 0 : 1;
  },
};

/** Runs `falcon-mamba compare` on `argv` (without the command name); returns the exit status. */
export function compareMain(argv: string[]): Promise<number> {
  return compareCommand.run(argv);
}
