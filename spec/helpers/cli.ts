/**
 * The falcon-mamba CLI run as a user runs it: `node src/cli/bin.js …` in a child process with the repository
 * root as cwd, stdout and stderr collected as text. The one helper of every CLI spec.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './goldens.ts';

/** What a finished CLI run left: its exit code (null when killed by a signal) and its output. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI's entry point. */
export const CLI_BIN = join(REPO, 'src', 'cli', 'bin.js');

/**
 * Runs the CLI with `args`; `input` is written to its stdin and then closed (no `input`: stdin is empty).
 * `timeoutMs` kills it (SIGTERM) when it runs longer: for cases whose regression would read or allocate
 * without end (the run then ends with code null).
 */
export function runCli(args: string[], input?: string, timeoutMs?: number): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: REPO, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}
