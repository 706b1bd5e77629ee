/**
 * `falcon-mamba perplexity --model M --file F`: the perplexity of a whole file in one streaming pass (or
 * llama-perplexity's windows with --ctx), as JSON on stdout; --save-logits / --kld for the KL divergence of
 * another run (q8, q4, another backend) against a saved one. docs/eval.md explains the numbers.
 */
import process from 'node:process';
import { InputError } from '../errors.ts';
import { readFileBytes } from '../io/files.ts';
import { decodeTopK, encodeTopK, perplexity, type PerplexityResult } from '../eval/index.ts';
import { MODEL_OPTIONS, MODEL_OPTIONS_HELP, note, numberFlag, openOutput, UsageError, type Command } from './common.ts';
import { countBar, encodeText, MAX_TOPK_FILE_BYTES, runEvalCommand } from './eval-common.ts';

const NAME = 'perplexity';

const OPTIONS = {
  ...MODEL_OPTIONS,
  file: { type: 'string', short: 'f' },
  ctx: { type: 'string' },
  tokens: { type: 'string' },
  'save-logits': { type: 'string' },
  'top-k': { type: 'string' },
  kld: { type: 'string' },
} as const;

const HELP = `Usage: falcon-mamba perplexity --model DIR --file TEXT [options]

The perplexity of a text file: one streaming pass over every token in constant memory (a Mamba model has no
context window), or llama-perplexity's windowed rule with --ctx. Prints JSON on stdout: tokens, predictions,
total and mean NLL (nats), perplexity and their standard errors.

Options:
  --file, -f PATH        the text (UTF-8), tokenized as the tokenizer config says (BOS first when it adds one)
  --ctx N                llama-perplexity's rule: windows of N tokens from a fresh state, BOS first in each (when
                         the tokenizer adds one), only the second half of each window scored, the tail dropped
  --tokens N             score only the first N tokens of the text
  --save-logits PATH     save each scored position's top-k log-probabilities (a compact versioned file)
  --top-k K              log-probabilities kept per position by --save-logits (default 16)
  --kld PATH             compare with a file saved by --save-logits: mean/max KL divergence, top-1 agreement,
                         mean logit error (same text, --tokens and --ctx)
${MODEL_OPTIONS_HELP}

Example: falcon-mamba perplexity --model models/demo --file fixtures/demo/heldout.txt --ctx 512`;

/** The JSON the command prints. */
function report(r: PerplexityResult, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    ...extra,
    mode: r.mode.kind,
    ...(r.mode.ctx !== undefined ? { ctx: r.mode.ctx, windows: r.windows, bosTokenId: r.mode.bosTokenId ?? null } : {}),
    tokens: r.tokens,
    predictions: r.count,
    nllSum: r.nllSum,
    meanNll: r.meanNll,
    meanNllStdErr: r.meanNllStdErr,
    perplexity: r.perplexity,
    perplexityStdErr: r.perplexityStdErr,
    ...(r.kld ? { kld: r.kld } : {}),
  };
}

export const perplexityCommand: Command = {
  name: NAME,
  summary: 'perplexity of a text file (streaming or windowed), KL divergence against saved log-probabilities',
  help: HELP,
  run(argv) {
    let ctx: number | undefined;
    let limit: number | undefined;
    let topK: number | undefined;
    return runEvalCommand(
      {
        name: NAME,
        argv,
        options: OPTIONS,
        help: HELP,
        input: { flag: 'file', usage: '--file PATH is required', what: 'text file' },
        checkFlags: (v) => {
          ctx = numberFlag(NAME, 'ctx', v.ctx, { integer: true, min: 4 });
          limit = numberFlag(NAME, 'tokens', v.tokens, { integer: true, min: 2 });
          topK = numberFlag(NAME, 'top-k', v['top-k'], { integer: true, min: 1, max: 1024 });
          if (topK !== undefined && v['save-logits'] === undefined) throw new UsageError('--top-k needs --save-logits', NAME);
        },
        // The saved log-probabilities are read (and validated), and the file to save them to is opened, before
        // the weights load: a bad path fails in one line before any work.
        prepare: async (text, _path, v) => ({
          text,
          compare: v.kld !== undefined ? decodeTopK((await readFileBytes(v.kld, InputError, { maxBytes: MAX_TOPK_FILE_BYTES, what: 'log-probability file' }))!, v.kld) : undefined,
          save: v['save-logits'] !== undefined ? await openOutput(v['save-logits'], 'log-probability file') : undefined,
        }),
      },
      async ({ v, dir, dtype, path, input: { text, compare, save }, model, files, loadMs, signal }) => {
        const bar = await countBar(ctx ? `ppl (ctx ${ctx})` : 'ppl');
        try {
          const enc = encodeText(files, text);
          const ids = limit !== undefined ? enc.ids.slice(0, limit) : enc.ids;
          const t0 = performance.now();
          let r: PerplexityResult;
          try {
            r = await perplexity(model, ids, {
              ctx,
              bosTokenId: ctx !== undefined ? enc.bos : undefined,
              saveTopK: v['save-logits'] !== undefined ? (topK ?? 16) : undefined,
              compare,
              source: `${dir} (${model.backend}, dtype ${dtype})`,
              signal,
              onProgress: (p) => bar.update(p.done, p.total, `PPL ${p.perplexity.toFixed(4)}${p.meanKld !== undefined ? ` KLD ${p.meanKld.toExponential(3)}` : ''}`),
            });
          } catch (e) {
            if (e instanceof InputError && compare) throw new InputError(`${v.kld}: ${e.message}`);
            throw e;
          }
          bar.stop();
          const ms = performance.now() - t0;
          if (r.topK && save) await save.write(encodeTopK(r.topK));
          const out = report(r, { model: dir, backend: model.backend, dtype, file: path });
          process.stdout.write(JSON.stringify(out, null, 1) + '\n');
          note(`load ${(loadMs / 1000).toFixed(2)} s · ${r.count} predictions in ${(ms / 1000).toFixed(1)} s (${((r.count * 1000) / ms).toFixed(1)} tok/s)` + (r.topK ? ` · saved ${v['save-logits']}` : ''));
          return 0;
        } finally {
          bar.stop();
          await save?.close(); // unwritten (the run failed): a file the command created is removed again
        }
      },
    );
  },
};
