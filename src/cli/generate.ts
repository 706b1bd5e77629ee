/**
 * `falcon-mamba generate`: one prompt → streamed text on stdout; load time, prompt and decode speed and memory
 * on stderr. `--json` prints one JSON object instead of the text.
 */
import process from 'node:process';
import { samplerDefaults } from '../generate/config.ts';
import { generateTextFromIds, type GenerateOptions, type GenerationSummary } from '../generate/generate.ts';
import type { SamplerOptions } from '../generate/sampler.ts';
import { applyChatTemplate, type TokenizerFiles } from '../tokenizer/files.ts';
import type { ChatMessage } from '../tokenizer/chat.ts';
import type { GenerationConfig } from '../generate/config.ts';
import {
  backendFlag, dtypeFlag, mixerEpsFlag, eventLoopTurns, EXIT_INTERRUPTED, MODEL_OPTIONS, MODEL_OPTIONS_HELP, modelFlag, note, numberFlag, openModel, parse, rate, readStdin, rssMB,
  threadsFlag, UsageError, type Command,
} from './common.ts';

/** Flags shared by `generate` and `chat`: sampling, length, stop strings. */
export const SAMPLING_OPTIONS = {
  'max-tokens': { type: 'string', short: 'n' },
  temperature: { type: 'string', short: 't' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
} as const;

/** Help lines for {@link SAMPLING_OPTIONS}. */
export const SAMPLING_HELP = `  --max-tokens, -n N     most tokens to generate (default: generation_config max_new_tokens, else 256)
  --temperature, -t T    0 = greedy; > 0 samples (default: greedy unless generation_config sets do_sample)
  --top-k K              keep the K most likely tokens (0 = off)
  --top-p P              nucleus sampling: keep the smallest set with probability mass ≥ P (1 = off)
  --min-p P              drop tokens less likely than P × the most likely (0 = off)
  --repetition-penalty R penalize tokens already seen (1 = off)
  --seed S               seed of the sampler (same seed → same text)
  --stop STR             stop before this string (repeatable; matched across tokens, not printed)`;

type SamplingValues = { [K in keyof typeof SAMPLING_OPTIONS]?: (typeof SAMPLING_OPTIONS)[K] extends { multiple: true } ? string[] : string };

/** The sampling flags, validated (before any slow load), not yet merged with the model's defaults. */
export interface SamplingFlags {
  overrides: SamplerOptions;
  maxTokens?: number;
  seed?: number;
  stop: string[];
}

/** Validates the sampling flags; a bad value is a UsageError naming the flag. */
export function parseSamplingFlags(command: string, v: SamplingValues): SamplingFlags {
  const overrides: SamplerOptions = {};
  const set = <K extends keyof SamplerOptions>(k: K, x: number | undefined) => {
    if (x !== undefined) overrides[k] = x;
  };
  set('temperature', numberFlag(command, 'temperature', v.temperature, { min: 0 }));
  set('topK', numberFlag(command, 'top-k', v['top-k'], { integer: true, min: 0 }));
  set('topP', numberFlag(command, 'top-p', v['top-p'], { min: 0, minExclusive: true, max: 1 }));
  set('minP', numberFlag(command, 'min-p', v['min-p'], { min: 0, max: 1 }));
  set('repetitionPenalty', numberFlag(command, 'repetition-penalty', v['repetition-penalty'], { min: 0, minExclusive: true }));
  return {
    overrides,
    maxTokens: numberFlag(command, 'max-tokens', v['max-tokens'], { integer: true, min: 0 }),
    seed: numberFlag(command, 'seed', v.seed, { integer: true }),
    stop: v.stop ?? [],
  };
}

/**
 * Generation options: generation_config.json's defaults (HF: greedy unless `do_sample`), then the flags; the
 * ending ids are generation_config.json's eos (else config.json's) plus the tokenizer's eos token.
 */
export function samplingOptions(flags: SamplingFlags, g: GenerationConfig, files: TokenizerFiles, chat = false): GenerateOptions {
  const eos = new Set(g.eosTokenIds);
  if (files.eosTokenId !== undefined) eos.add(files.eosTokenId);
  if (chat) for (const id of endOfTurnIds(files)) eos.add(id);
  return {
    ...samplerDefaults(g),
    ...flags.overrides,
    maxTokens: flags.maxTokens ?? g.maxNewTokens ?? 256,
    seed: flags.seed,
    stop: flags.stop,
    eosTokenIds: [...eos],
  };
}

/** End-of-turn markers that chat templates write after each message. */
const END_OF_TURN = ['<|im_end|>', '<|eot_id|>', '<|end|>', '<end_of_turn>'];

/**
 * In chat mode a reply also ends at the template's end-of-turn token (e.g. ChatML `<|im_end|>`) when the
 * template writes it and the tokenizer has it as a special token: a model whose generation_config lists only
 * `<|endoftext|>` (a base model, the demo) would otherwise write the next user turn itself. falcon-mamba-7b-
 * instruct already lists it (`eos_token_id: [11, 10]`).
 */
export function endOfTurnIds(files: TokenizerFiles): number[] {
  const ids: number[] = [];
  for (const t of END_OF_TURN) {
    const id = files.tokenizer.tokenToId(t);
    if (id !== undefined && files.chatTemplate?.includes(t) && files.tokenizer.specialIds.has(id)) ids.push(id);
  }
  return ids;
}

/** The speed line of one generation. */
export function speedLine(s: GenerationSummary, loadMs?: number): string {
  const parts = [];
  if (loadMs !== undefined) parts.push(`load ${(loadMs / 1000).toFixed(2)} s`);
  parts.push(`prompt ${s.promptTokens} tok ${rate(s.promptTokens, s.prefillMs)}`);
  parts.push(`decode ${s.tokens.length} tok ${rate(s.steps, s.decodeMs)}`);
  parts.push(`finish ${s.finishReason}${s.stopString !== undefined ? ` ${JSON.stringify(s.stopString)}` : ''}`);
  parts.push(`RSS ${rssMB()}`);
  return parts.join(' · ');
}

const OPTIONS = {
  ...MODEL_OPTIONS,
  ...SAMPLING_OPTIONS,
  prompt: { type: 'string', short: 'p' },
  chat: { type: 'boolean' },
  system: { type: 'string' },
  echo: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** The `generate` command. */
export const generateCommand: Command = {
  name: 'generate',
  summary: 'continue a prompt, streaming the text',
  help: `Usage: falcon-mamba generate --model DIR --prompt TEXT [options]

Streams the generated text to stdout; load time, prompt and decode speed and memory go to stderr.

  --prompt, -p TEXT      the prompt (- reads stdin)
  --chat                 wrap the prompt in the model's chat template (as a user turn)
  --system TEXT          a system message (with --chat)
  --echo                 print the prompt before the generated text
  --json                 print one JSON object {text, tokens, promptTokens, finishReason, stats, …}
${SAMPLING_HELP}
${MODEL_OPTIONS_HELP}`,

  async run(argv) {
    const { values: v } = parse('generate', argv, OPTIONS);
    if (v.help) {
      process.stdout.write(this.help + '\n');
      return 0;
    }
    const dir = modelFlag('generate', v.model);
    if (v.prompt === undefined) throw new UsageError('--prompt TEXT is required (- reads stdin)', 'generate');
    if (v.system !== undefined && !v.chat) throw new UsageError('--system needs --chat', 'generate');
    const flags = {
      backend: backendFlag('generate', v.backend),
      dtype: dtypeFlag('generate', v.dtype),
      threads: threadsFlag('generate', v.threads),
      mixerRmsEps: mixerEpsFlag('generate', v['mixer-eps'], dir),
    };
    const sampling = parseSamplingFlags('generate', v); // every flag is checked before the (slow) load
    const prompt = v.prompt === '-' ? await readStdin() : v.prompt;
    const opened = await openModel(dir, flags);
    const { model, files, generation, loadMs } = opened;
    try {
      const options = samplingOptions(sampling, generation, files, v.chat === true);
      let text = prompt;
      if (v.chat) {
        const messages: ChatMessage[] = [];
        if (v.system !== undefined) messages.push({ role: 'system', content: v.system });
        messages.push({ role: 'user', content: prompt });
        if (!files.chatTemplate) note('falcon-mamba: this model has no chat template; using a plain "User: …\\nAssistant:" prompt');
        text = applyChatTemplate(files, messages, { addGenerationPrompt: true, fallback: true });
      }
      const ids = files.tokenizer.encode(text);
      if (v.verbose) {
        const { eosTokenIds, stop, maxTokens, seed, temperature, topK, topP, minP, repetitionPenalty } = options;
        note(`falcon-mamba: ${model.backend} backend · ${ids.length} prompt tokens · ${JSON.stringify({ maxTokens, temperature, topK, topP, minP, repetitionPenalty, seed, eosTokenIds, stop })}`);
      }
      // Ctrl-C stops the generation (what was generated and the speed line are printed, exit 130); a second one
      // exits at once, should the first not be seen.
      const abort = new AbortController();
      const onSigint = () => {
        if (abort.signal.aborted) process.exit(EXIT_INTERRUPTED);
        abort.abort();
      };
      process.on('SIGINT', onSigint);
      const gen = generateTextFromIds(model, files.tokenizer, ids, { ...options, signal: abort.signal });
      const out = process.stdout;
      let generated = '';
      const turn = eventLoopTurns();
      try {
        if (v.echo && !v.json) out.write(text);
        for await (const e of gen) {
          generated += e.text;
          if (!v.json && e.text) out.write(e.text);
          await turn();
        }
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
      const s = gen.summary!;
      if (v.json) {
        out.write(JSON.stringify({
          prompt: text,
          promptTokens: ids,
          text: generated,
          tokens: s.tokens,
          finishReason: s.finishReason,
          stopString: s.stopString ?? null,
          seed: s.seed,
          stats: {
            loadMs: Math.round(loadMs),
            prefillMs: Math.round(s.prefillMs),
            decodeMs: Math.round(s.decodeMs),
            promptTokensPerSecond: s.prefillMs > 0 ? (s.promptTokens * 1000) / s.prefillMs : null,
            decodeTokensPerSecond: s.decodeMs > 0 && s.steps > 0 ? (s.steps * 1000) / s.decodeMs : null,
            rssBytes: process.memoryUsage().rss,
          },
        }) + '\n');
      } else {
        // The text ends with a newline wherever it goes: a terminal's next prompt, `cat`ing a file, a pipe's last line.
        const printed = v.echo ? text + generated : generated;
        if (printed !== '' && !printed.endsWith('\n')) out.write('\n');
      }
      note(speedLine(s, loadMs));
      return abort.signal.aborted ? EXIT_INTERRUPTED : 0;
    } finally {
      await model.dispose();
    }
  },
};
