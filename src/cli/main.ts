/**
 * The `falcon-mamba` program: dispatch to a command, turn errors into one line and an exit status.
 *
 * Exit status: 0 success; 1 a FalconMambaError (bad model folder, tokenizer, state file, input) printed as
 * `falcon-mamba: <message>`, or a system error (ENOENT, EISDIR, ENOSPC…) as `falcon-mamba: <path>: <what>`; 2 bad usage (unknown flag, missing or invalid value) with a hint; 1 for anything
 * else (a bug), with the stack only under `--verbose`.
 *
 * Node runs it through `run.ts` (compiled to dist/cli/run.js in the package; `bin.js` runs it with tsx in a
 * checkout); Deno can run this file directly:
 * `deno run -A src/cli/main.ts generate --model DIR --prompt "…"`.
 */
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { FalconMambaError } from '../errors.ts';
import { chatCommand } from './chat.ts';
import { compareCommand } from './compare.ts';
import { PROGRAM, systemErrorLine, UsageError, type Command } from './common.ts';
import { generateCommand } from './generate.ts';
import { infoCommand } from './info.ts';
import { perplexityCommand } from './perplexity.ts';
import { scoreCommand } from './score.ts';
import { serveCommand } from './serve.ts';
import { tokenizeCommand } from './tokenize.ts';
import { traceCommand } from './trace.ts';

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [generateCommand, chatCommand, serveCommand, tokenizeCommand, infoCommand, traceCommand, compareCommand, perplexityCommand, scoreCommand];

/** The program's help. */
export function programHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: ${PROGRAM} <command> [options]

FalconMamba / Mamba-1 inference on the CPU, exact against Hugging Face transformers.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run '${PROGRAM} help <command>' (or '${PROGRAM} <command> --help') for a command's options;
'${PROGRAM} --version' for the version.
Example: ${PROGRAM} generate --model models/demo --prompt "The old man" --max-tokens 60`;
}

/**
 * Runs the program on `argv` (without the node and script paths) and returns the exit status. Only this
 * module and the commands print.
 */
export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  const [name, ...rest] = argv;
  try {
    if (name === undefined) throw new UsageError('no command given');
    if (name === '--version' || name === '-V') {
      process.stdout.write(version() + '\n');
      return 0;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      const topic = name === 'help' && rest.length > 0 ? findCommand(rest[0]) : undefined;
      process.stdout.write((topic ? topic.help : programHelp()) + '\n');
      return 0;
    }
    const command = findCommand(name);
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      const hint = e.command ? `${PROGRAM} ${e.command} --help` : `${PROGRAM} --help`;
      process.stderr.write(`${PROGRAM}: ${e.message}\nTry '${hint}'.\n`);
      return 2;
    }
    if (e instanceof FalconMambaError) {
      process.stderr.write(`${PROGRAM}: ${oneLine(e.message)}\n`);
      if (verbose && e.stack) process.stderr.write(e.stack + '\n');
      return 1;
    }
    // A file the command opened without a check of its own (ENOENT, EISDIR, ENOSPC, …): the path, not a bug.
    const system = systemErrorLine(e);
    if (system !== undefined) {
      process.stderr.write(`${PROGRAM}: ${oneLine(system)}\n`);
      if (verbose && (e as Error).stack) process.stderr.write((e as Error).stack + '\n');
      return 1;
    }
    const err = e as Error;
    process.stderr.write(`${PROGRAM}: internal error: ${oneLine(String(err?.message ?? err))}${verbose ? '' : ' (--verbose for the stack)'}\n`);
    if (verbose && err?.stack) process.stderr.write(err.stack + '\n');
    return 1;
  }
}

/** The command called `name`; a UsageError listing the commands when there is none. */
function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)} (expected one of ${COMMANDS.map((c) => c.name).join(', ')})`);
  return command;
}

/** The package's version, from its package.json (two levels up from src/cli/ and from dist/cli/ alike). */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

// `deno run src/cli/main.ts …` (Deno sets import.meta.main; under Node bin.js calls main()).
if ((import.meta as ImportMeta & { main?: boolean }).main) {
  process.exitCode = await main(process.argv.slice(2));
}
