/**
 * `falcon-mamba tokenize`: text → ids and their pieces, with the model folder's tokenizer.
 */
import process from 'node:process';
import { loadModelTokenizer } from '../tokenizer/gguf.ts';
import { modelFlag, parse, readStdin, UsageError, type Command } from './common.ts';

const OPTIONS = {
  model: { type: 'string', short: 'm' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The `tokenize` command. */
export const tokenizeCommand: Command = {
  name: 'tokenize',
  summary: 'show the token ids and pieces of a text',
  help: `Usage: falcon-mamba tokenize --model DIR TEXT

Prints the ids on one line, then one line per token: id, piece (as in tokenizer.json) and its text.
TEXT - reads stdin. No special tokens are added (the Falcon tokenizer adds none).

  --model, -m DIR        a model folder with tokenizer.json, or a .gguf file
  --json                 print {"ids": [...], "tokens": [...], "texts": [...]}
  --verbose, -v          stack traces on errors
  --help, -h             this help`,

  async run(argv) {
    const { values: v, positionals } = parse('tokenize', argv, OPTIONS, true);
    if (v.help) {
      process.stdout.write(this.help + '\n');
      return 0;
    }
    const dir = modelFlag('tokenize', v.model);
    if (positionals.length !== 1) throw new UsageError(`expected one TEXT argument, got ${positionals.length}`, 'tokenize');
    const text = positionals[0] === '-' ? await readStdin() : positionals[0];
    const { tokenizer } = await loadModelTokenizer(dir);
    const ids = tokenizer.encode(text);
    const tokens = ids.map((id) => tokenizer.idToToken(id) ?? '');
    const texts = ids.map((id) => tokenizer.decode([id]));
    if (v.json) {
      process.stdout.write(JSON.stringify({ ids, tokens, texts }) + '\n');
      return 0;
    }
    const lines = [`${ids.length} tokens: [${ids.join(', ')}]`];
    ids.forEach((id, i) => lines.push(`${String(id).padStart(6)}  ${JSON.stringify(tokens[i])}  ${JSON.stringify(texts[i])}`));
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
