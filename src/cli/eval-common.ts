/**
 * What the `perplexity` and `score` commands share: their whole preamble and teardown ({@link runEvalCommand}:
 * options, the model and input flags, the input file, the model and tokenizer, Ctrl-C), a counting progress bar on
 * stderr (when it is a terminal) with a running value, and the BOS rule of a tokenizer's config.
 */
import { readTextFile } from '../io/files.ts';
import process from 'node:process';
import { InputError } from '../errors.ts';

/**
 * Largest input file `perplexity` and `score` read: 256 MiB (about 60 M tokens of English, a shelf of books;
 * the text is held whole while its ids stream through the model).
 */
export const MAX_EVAL_INPUT_BYTES = 256 << 20;

/** Largest `--kld` file read: 1 GiB (16 log-probabilities of 8 bytes per position: ~8 M positions). */
export const MAX_TOPK_FILE_BYTES = 1 << 30;
import type { Model, WeightDType } from '../model.ts';
import type { TokenizerFiles } from '../tokenizer/files.ts';
import { backendFlag, dtypeFlag, mixerEpsFlag, EXIT_INTERRUPTED, modelFlag, MODEL_OPTIONS, note, numberFlag, openModel, parse, threadsFlag, UsageError } from './common.ts';

/** An AbortController that the first Ctrl-C aborts; `done()` removes the handler. */
export function interruptSignal(): { signal: AbortSignal; done(): void } {
  const ac = new AbortController();
  const onSigint = () => ac.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  return { signal: ac.signal, done: () => process.removeListener('SIGINT', onSigint) };
}

/** A progress bar `label |bar| done/total  extra` on stderr, or a no-op when stderr is not a terminal. */
export async function countBar(label: string): Promise<{ update(done: number, total: number, extra: string): void; stop(): void }> {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${label} |{bar}| {value}/{total} {extra} ETA {eta_formatted}`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, extra) {
      if (!started) {
        bar.start(total, 0, { extra });
        started = true;
      }
      bar.update(done, { extra });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/**
 * Whether the tokenizer starts a text with BOS: tokenizer_config.json's `add_bos_token` when present, else whether
 * the tokenizer.json post-processor puts the BOS id first. (llama.cpp reads the same fact from the GGUF's
 * `tokenizer.ggml.add_bos_token`.)
 */
export function addsBos(files: TokenizerFiles): boolean {
  if (files.bosTokenId === undefined) return false;
  if (files.addBosToken !== undefined) return files.addBosToken;
  const ids = files.tokenizer.encode('a', { addSpecialTokens: true });
  return ids.length > 1 && ids[0] === files.bosTokenId;
}

/** A text's ids as the tokenizer's config says: BOS first when {@link addsBos}, no other special tokens. */
export function encodeText(files: TokenizerFiles, text: string): { ids: number[]; bos?: number } {
  const ids = files.tokenizer.encode(text);
  return addsBos(files) ? { ids: [files.bosTokenId!, ...ids], bos: files.bosTokenId } : { ids };
}

/** What an evaluation command's body gets from {@link runEvalCommand}. */
export interface EvalRun<V, T> {
  /** The parsed option values. */
  v: V;
  /** `--model` as given. */
  dir: string;
  /** `--dtype` as given, or `auto`. */
  dtype: WeightDType;
  /** The input file's path and what `prepare` made of its text. */
  path: string;
  input: T;
  model: Model;
  files: TokenizerFiles;
  /** Wall time of loading the weights (ms). */
  loadMs: number;
  /** Aborted by the first Ctrl-C. */
  signal: AbortSignal;
}

/**
 * The shared preamble and teardown of `perplexity` and `score`: parses `argv` (strict; `--help` prints `help`),
 * requires `--model` and the input flag `input.flag`, runs `checkFlags` on the values (the command's own flags,
 * before any I/O), reads the input file (UTF-8; an error names it), hands its text to `prepare` (parse it, read
 * a side file: everything that can fail before the weights load), opens the model folder (tokenizer first,
 * then the weights), arms Ctrl-C as an AbortSignal, runs `body`, and always disarms Ctrl-C and disposes of the
 * model. Returns the exit status: `body`'s, 0 after `--help`, 130 when Ctrl-C aborted the run.
 */
export async function runEvalCommand<O extends typeof MODEL_OPTIONS & Record<string, { type: 'string' | 'boolean'; short?: string }>, T>(
  spec: {
    name: string;
    argv: string[];
    options: O;
    help: string;
    /** The input file's flag, its usage line, and what the file is in messages ("text file", "tasks file"). */
    input: { flag: keyof O & string; usage: string; what: string };
    checkFlags?: (v: ReturnType<typeof parse<O>>['values']) => void;
    prepare: (text: string, path: string, v: ReturnType<typeof parse<O>>['values']) => T | Promise<T>;
  },
  body: (run: EvalRun<ReturnType<typeof parse<O>>['values'], T>) => Promise<number>,
): Promise<number> {
  const { name } = spec;
  const { values: v } = parse(name, spec.argv, spec.options);
  // The flags of MODEL_OPTIONS and the input flag, read by name (parseArgs types values per options object).
  const flag = v as Record<string, string | boolean | undefined>;
  if (flag.help) {
    process.stdout.write(spec.help + '\n');
    return 0;
  }
  const dir = modelFlag(name, flag.model as string | undefined);
  const path = flag[spec.input.flag];
  if (typeof path !== 'string') throw new UsageError(spec.input.usage, name);
  spec.checkFlags?.(v);
  const flags = {
    backend: backendFlag(name, flag.backend as string | undefined),
    dtype: dtypeFlag(name, flag.dtype as string | undefined),
    threads: threadsFlag(name, flag.threads as string | undefined),
    mixerRmsEps: mixerEpsFlag(name, flag['mixer-eps'] as string | undefined, dir),
  };
  // Only a regular file of at most MAX_EVAL_INPUT_BYTES: a FIFO or /dev/zero is refused before it is read.
  const text = (await readTextFile(path, InputError, { maxBytes: MAX_EVAL_INPUT_BYTES, what: spec.input.what }))!;
  const input = await spec.prepare(text, path, v);
  const { model, files, loadMs } = await openModel(dir, flags);
  const interrupt = interruptSignal();
  try {
    return await body({ v, dir, dtype: flags.dtype ?? 'auto', path, input, model, files, loadMs, signal: interrupt.signal });
  } catch (e) {
    if (interrupt.signal.aborted) {
      note('falcon-mamba: interrupted');
      return EXIT_INTERRUPTED;
    }
    throw e;
  } finally {
    interrupt.done();
    await model.dispose();
  }
}
