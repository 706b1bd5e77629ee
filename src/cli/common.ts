/**
 * What every command shares: argument parsing (node:util parseArgs, strict), usage errors, opening a model
 * folder the way an HF snapshot is laid out (weights + tokenizer files + generation_config.json) with load
 * progress (src/cli/progress.ts), and the speed line.
 */
import { open, stat, unlink } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { setImmediate } from 'node:timers';
import { loadModel } from '../load.ts';
import { MAX_THREADS, type Backend, type LoadOptions, type Model, type WeightDType } from '../model.ts';
import type { TokenizerFiles } from '../tokenizer/files.ts';
import { loadGenerationConfig, type GenerationConfig } from '../generate/config.ts';
import { Checkpoint } from '../io/checkpoint.ts';
import { GgufCheckpoint, isGgufPath } from '../io/gguf-checkpoint.ts';
import { loadModelTokenizer } from '../tokenizer/gguf.ts';
import { InputError } from '../errors.ts';
import { loadProgress } from './progress.ts';

/** The program's name in messages. */
export const PROGRAM = 'falcon-mamba';

/** The exit status of a command ended by Ctrl-C (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130;

/**
 * A function to await after each generated token: it lets the event loop run (setImmediate) once every
 * `everyMs`, so that Ctrl-C (SIGINT, readline keys) is seen while tokens stream, whatever the engine does.
 */
export function eventLoopTurns(everyMs = 20): () => Promise<void> {
  let last = performance.now();
  return async () => {
    const now = performance.now();
    if (now - last < everyMs) return;
    last = now;
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
}

/** Bad usage: printed as one line with a hint, exit status 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose `--help` the hint points to. */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A command: its name, help text and body (returns the exit status). */
export interface Command {
  name: string;
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** The options every model-loading command accepts. */
export const MODEL_OPTIONS = {
  model: { type: 'string', short: 'm' },
  threads: { type: 'string' },
  dtype: { type: 'string' },
  backend: { type: 'string' },
  'mixer-eps': { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/** Help lines for {@link MODEL_OPTIONS}. */
export const MODEL_OPTIONS_HELP = `  --model, -m DIR        a Hugging Face model folder (config.json, *.safetensors, tokenizer.json), or a
                         llama.cpp .gguf file (config, tokenizer and chat template from its metadata)
  --backend NAME         wasm | reference (default: the library's default)
  --dtype NAME           weights in the engine: auto | bf16 | f32 | q8 | q4 (default auto)
  --threads N            worker threads of the wasm backend, 1 to 64 (default: all cores)
  --mixer-eps EPS        .gguf only: eps of FalconMamba's dt/B/C norm, which GGUF does not store:
                         transformers (1e-6, default) | llama.cpp (the layer-norm eps, as llama.cpp) | a number
  --verbose, -v          stack traces on errors, more detail
  --help, -h             this help`;

/** What {@link parse} returns: parseArgs's typed values and positionals for these options. */
export type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>>;

/**
 * parseArgs in strict mode; any parse problem (unknown flag, missing value, stray argument) becomes a
 * {@link UsageError} naming it. A signed number after an option that takes a value is that value (`-t -1`,
 * `--seed +3`): parseArgs alone calls it ambiguous, since it could be a short flag.
 */
export function parse<O extends Options>(command: string, argv: string[], options: O, allowPositionals = false): Parsed<O> {
  try {
    return parseArgs({ args: joinSignedValues(argv, options), options, strict: true, allowPositionals });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError(err.message.split('\n')[0].replace(/\. To specify a positional argument.*$/, ''), command);
    }
    throw e;
  }
}

const SIGNED_NUMBER = /^[-+](\d|\.\d|Infinity$|NaN$)/;

/** `--name -1` / `-n -1` → `--name=-1` for options that take a value (up to a `--` terminator). */
function joinSignedValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const name = a.startsWith('--') ? a.slice(2) : /^-[^-]$/.test(a) ? Object.keys(options).find((k) => options[k].short === a[1]) : undefined;
    const next = argv[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && SIGNED_NUMBER.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** Reads a numeric flag: undefined when absent; a UsageError naming the flag when it is not a number in range. */
export function numberFlag(
  command: string,
  name: string,
  value: string | undefined,
  check: { integer?: boolean; min?: number; max?: number; minExclusive?: boolean } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const bad =
    value.trim() === '' ||
    !Number.isFinite(n) ||
    (check.integer === true && !Number.isInteger(n)) ||
    (check.min !== undefined && (check.minExclusive ? n <= check.min : n < check.min)) ||
    (check.max !== undefined && n > check.max);
  if (bad) {
    const range = [
      check.integer ? 'an integer' : 'a number',
      check.min !== undefined ? `${check.minExclusive ? '>' : '≥'} ${check.min}` : '',
      check.max !== undefined ? `≤ ${check.max}` : '',
    ].filter(Boolean).join(' ');
    throw new UsageError(`--${name} must be ${range}, got ${JSON.stringify(value)}`, command);
  }
  return n;
}

const DTYPES: readonly WeightDType[] = ['auto', 'bf16', 'f32', 'q8', 'q4'];
const BACKENDS: readonly Backend[] = ['wasm', 'reference'];

/** Validates `--dtype`. */
export function dtypeFlag(command: string, v: string | undefined): WeightDType | undefined {
  if (v === undefined) return undefined;
  if (!(DTYPES as readonly string[]).includes(v)) throw new UsageError(`unknown dtype ${JSON.stringify(v)} (expected one of ${DTYPES.join(', ')})`, command);
  return v as WeightDType;
}

/**
 * Validates `--mixer-eps` (`transformers`, `llama.cpp` or a positive number) for the model at `dir`: a GGUF file
 * only, since an HF folder's config.json states its `mixer_rms_eps`.
 */
export function mixerEpsFlag(command: string, v: string | undefined, dir: string): number | 'transformers' | 'llama.cpp' | undefined {
  if (v === undefined) return undefined;
  if (!isGgufPath(dir)) throw new UsageError(`--mixer-eps applies to .gguf files only (${dir}: its config.json sets mixer_rms_eps)`, command);
  if (v === 'transformers' || v === 'llama.cpp') return v;
  return numberFlag(command, 'mixer-eps', v, { min: 0, minExclusive: true })!;
}

/** Validates `--backend`. */
export function backendFlag(command: string, v: string | undefined): Backend | undefined {
  if (v === undefined) return undefined;
  if (!(BACKENDS as readonly string[]).includes(v)) throw new UsageError(`unknown backend ${JSON.stringify(v)} (expected one of ${BACKENDS.join(', ')})`, command);
  return v as Backend;
}

/** Validates `--threads` (1 to the library's MAX_THREADS, 64). */
export function threadsFlag(command: string, v: string | undefined): number | undefined {
  return numberFlag(command, 'threads', v, { integer: true, min: 1, max: MAX_THREADS });
}

/** `--model` is required. */
export function modelFlag(command: string, v: string | undefined): string {
  if (v === undefined || v === '') throw new UsageError('--model DIR is required', command);
  return v;
}

/** A model folder opened for generation. */
export interface OpenedModel {
  model: Model;
  files: TokenizerFiles;
  generation: GenerationConfig;
  /** Wall time of loading the weights (ms). */
  loadMs: number;
}

/**
 * Opens an HF model folder: tokenizer files first (fast, fails fast), then the weights with a progress bar on
 * stderr when stderr is a terminal.
 */
export async function openModel(dir: string, flags: { backend?: Backend; dtype?: WeightDType; threads?: number; mixerRmsEps?: LoadOptions['mixerRmsEps'] }): Promise<OpenedModel> {
  const t0 = performance.now();
  await openCheckpoint(dir, flags.mixerRmsEps); // headers only: a wrong folder or file fails here with a message naming it
  const files = await loadModelTokenizer(dir);
  // q8/q4 quantize each chunk of rows as it is read (src/wasm), so the whole load is that phase.
  const quantize = flags.dtype === 'q8' || flags.dtype === 'q4';
  const progress = await loadProgress(quantize ? `loading + quantizing to ${flags.dtype}` : 'loading weights');
  let model: Model;
  let ok = false;
  try {
    model = await loadModel(dir, {
      backend: flags.backend,
      dtype: flags.dtype,
      threads: flags.threads,
      mixerRmsEps: flags.mixerRmsEps,
      onProgress: (p) => progress.update(p.loadedBytes, p.totalBytes),
      onNotice: (message) => process.stderr.write(`falcon-mamba: ${message}\n`),
    });
    ok = true;
  } finally {
    progress.stop(ok);
  }
  const generation = await loadGenerationConfig(dir, model.config);
  return { model, files, generation, loadMs: performance.now() - t0 };
}

/** Opens only the checkpoint headers and config (no weights read): an HF folder or a `.gguf` file. */
export function openCheckpoint(dir: string, mixerRmsEps?: LoadOptions['mixerRmsEps']): Promise<Checkpoint | GgufCheckpoint> {
  return isGgufPath(dir) ? GgufCheckpoint.open(dir, { mixerRmsEps }) : Checkpoint.open(dir);
}

/** A Node system error's description and code (`no such file or directory, ENOENT`); undefined for any other error. */
function systemErrorText(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof err.code !== 'string' || !/^E[A-Z0-9]+$/.test(err.code) || typeof err.errno !== 'number') return undefined;
  // Node's message is "CODE: description, syscall 'path'": keep the description.
  return `${/^E[A-Z0-9]+: ([^,]*)/.exec(err.message)?.[1] ?? err.message}, ${err.code}`;
}

/**
 * A Node system error (ENOENT, EISDIR, ENOSPC, EACCES, …) as one line naming the path:
 * `x.bin: cannot open (no such file or directory, ENOENT)`; undefined for any other error.
 */
export function systemErrorLine(e: unknown): string | undefined {
  const text = systemErrorText(e);
  if (text === undefined) return undefined;
  const err = e as NodeJS.ErrnoException;
  return `${err.path !== undefined ? `${err.path}: ` : ''}cannot ${err.syscall ?? 'access'} (${text})`;
}

/** A file a command writes, opened by {@link openOutput} before the work that fills it. */
export interface OutputFile {
  /** Replaces the file's content by `bytes` and closes it. @throws InputError naming the path (e.g. ENOSPC) */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes it unwritten (the command failed): a file that did not exist before is removed again. */
  close(): Promise<void>;
}

/**
 * Opens an output file now (created if absent, not truncated yet), so that a directory, a missing folder or a
 * read-only path fails before any work, in one line naming it. A full disk shows only when writing (no probe
 * can tell without writing): `write` reports it with the path too.
 * @param what what the file is, in messages ("trace", "saved chat")
 * @throws InputError naming the path and the errno
 */
export async function openOutput(path: string, what: string): Promise<OutputFile> {
  const fail = (e: unknown): never => {
    throw new InputError(`${path}: cannot write the ${what} (${systemErrorText(e) ?? (e as Error).message})`);
  };
  const existed = await stat(path).then(() => true, () => false);
  const fh = await open(path, 'a').catch(fail);
  let closed = false;
  let written = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close().catch(fail);
  };
  return {
    async write(bytes) {
      try {
        if ((await fh.stat()).isFile()) await fh.truncate(0); // not a device: /dev/full has no length to cut
        // Opened for appending: each write goes at the end, which truncate(0) put at 0.
        for (let at = 0; at < bytes.length; ) at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten;
      } catch (e) {
        await close().catch(() => {});
        fail(e);
      }
      await close();
      written = true;
    },
    async close() {
      await close();
      if (!existed && !written) await unlink(path).catch(() => {});
    },
  };
}

/** `12.3 tok/s`, or `–` when no time passed. */
export function rate(tokens: number, ms: number): string {
  return ms > 0 && tokens > 0 ? `${((tokens * 1000) / ms).toFixed(1)} tok/s` : '–';
}

/** Resident set size in MB (10^6 bytes, as every byte count the CLI prints). */
export function rssMB(): string {
  return `${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`;
}

/** Writes to stderr (the only place status goes). */
export function note(line: string): void {
  process.stderr.write(line + '\n');
}

/** Reads all of stdin as UTF-8. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
