/**
 * `falcon-mamba trace`: record every named intermediate of a forward pass (docs/oracle.md) into a
 * safetensors file, with the ids, the model's config.json and the backend in its metadata.
 */
import { join } from 'node:path';
import process from 'node:process';
import { ConfigError } from '../errors.ts';
import { readTextFile } from '../io/files.ts';
import { loadModel } from '../load.ts';
import type { LoadOptions } from '../model.ts';
import { encodeTrace } from '../oracle/file.ts';
import { traceForward } from '../oracle/trace.ts';
import { loadModelTokenizer } from '../tokenizer/gguf.ts';
import { backendFlag, dtypeFlag, modelFlag, openOutput, type OutputFile, parse, readStdin, threadsFlag, UsageError, type Command } from './common.ts';

const OPTIONS = {
  model: { type: 'string', short: 'm' },
  prompt: { type: 'string', short: 'p' },
  ids: { type: 'string' },
  out: { type: 'string', short: 'o' },
  backend: { type: 'string' },
  dtype: { type: 'string' },
  threads: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses `--ids 1,2,3` (commas and/or spaces). */
export function parseIdsFlag(command: string, text: string): number[] {
  const parts = text.split(/[\s,]+/).filter((p) => p !== '');
  if (parts.length === 0) throw new UsageError('--ids needs at least one token id', command);
  return parts.map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || !Number.isSafeInteger(n)) throw new UsageError(`--ids: ${JSON.stringify(p)} is not a token id`, command);
    return n;
  });
}

/** The `trace` command. */
export const traceCommand: Command = {
  name: 'trace',
  summary: 'write every intermediate of a forward pass to a safetensors trace',
  help: `Usage: falcon-mamba trace --model DIR (--prompt TEXT | --ids 1,2,3) --out FILE [options]

Runs the prompt through the model from a fresh state and writes every named intermediate (per layer: block
input, norm, in_proj x/z, conv before/after silu, x_proj dt/B/C before/after FalconMamba's norm, dt_proj,
softplus, A, scan output, D skip, gate, out_proj, residual; the final conv/SSM states; norm_f and logits) as
float32 tensors in forward order to a standard safetensors file. Metadata: format, ids, config, backend.
Compare two traces with 'falcon-mamba compare'. Names and the walk-through: docs/oracle.md.

  --model, -m DIR        a Hugging Face model folder or a .gguf file
  --prompt, -p TEXT      the prompt, encoded with DIR/tokenizer.json (- reads stdin)
  --ids LIST             token ids instead of a prompt, e.g. 1,2,3 (no tokenizer needed)
  --out, -o FILE         the trace file to write
  --backend NAME         reference (default: the oracle) | wasm (only if it implements Model.trace)
  --dtype NAME           weights in the engine (wasm): auto | bf16 | f32 | q8 | q4
  --threads N            worker threads of the wasm backend
  --verbose, -v          stack traces on errors
  --help, -h             this help`,

  async run(argv) {
    const { values: v } = parse('trace', argv, OPTIONS);
    if (v.help) {
      process.stdout.write(this.help + '\n');
      return 0;
    }
    const dir = modelFlag('trace', v.model);
    if ((v.prompt === undefined) === (v.ids === undefined)) throw new UsageError('give exactly one of --prompt TEXT and --ids LIST', 'trace');
    if (v.out === undefined || v.out === '') throw new UsageError('--out FILE is required', 'trace');
    const backend = backendFlag('trace', v.backend) ?? 'reference';
    const dtype = dtypeFlag('trace', v.dtype);
    const threads = threadsFlag('trace', v.threads);
    const given = v.ids !== undefined ? parseIdsFlag('trace', v.ids) : undefined;
    // The output is opened before anything is computed: a directory or an unwritable path fails at once.
    const out = await openOutput(v.out, 'trace');
    try {
      return await trace(dir, v.prompt, given, out, { backend, dtype, threads }, v.out);
    } finally {
      await out.close();
    }
  },
};

/** The work of `trace` once the flags are checked and the output is open. */
async function trace(dir: string, prompt: string | undefined, given: number[] | undefined, out: OutputFile, options: LoadOptions, outPath: string): Promise<number> {
  let ids: number[];
  if (given !== undefined) ids = given;
  else {
    const text = prompt === '-' ? await readStdin() : (prompt as string);
    ids = (await loadModelTokenizer(dir)).tokenizer.encode(text);
    if (ids.length === 0) throw new UsageError('the prompt encodes to no tokens', 'trace');
  }
  const model = await loadModel(dir, options); // validates config.json first
  try {
    // The folder's config.json as written (a .gguf model has none: its normalized config instead).
    const raw = await readTextFile(join(dir, 'config.json'), ConfigError, { optional: true, what: 'config file' });
    const config: unknown = raw === undefined ? model.config : JSON.parse(raw);
    const t0 = performance.now();
    const tensors = await traceForward(model, ids);
    await out.write(encodeTrace(tensors, { ids, config, backend: model.backend }));
    const bytes = tensors.reduce((s, t) => s + 4 * t.data.length, 0);
    process.stdout.write(
      `wrote ${tensors.length} tensors (${(bytes / 1e6).toFixed(2)} MB) for ${ids.length} tokens ` +
        `[${ids.length > 12 ? ids.slice(0, 12).join(',') + ',…' : ids.join(',')}] from the ${model.backend} backend ` +
        `to ${outPath} in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`,
    );
  } finally {
    await model.dispose();
  }
  return 0;
}

/** Runs `falcon-mamba trace` on `argv` (without the command name); returns the exit status. */
export function traceMain(argv: string[]): Promise<number> {
  return traceCommand.run(argv);
}
