/**
 * The runnable snippets of the guided tour (docs/examples/*.ts): each must exit 0 and print the lines its page
 * quotes, so the docs cannot rot. Every example in the folder must be listed here.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

/** Lines each example must print (as its docs/tour page says). */
const EXPECTED: Record<string, string[]> = {
  'tokenizer.ts': ['tokens: Hello | Ġworld | , | Ġit | \' | s | Ġ | 202 | 4 | !', 'roundtrip: true'],
  'rmsnorm.ts': ['matches formula: true', 'rms without weight: 1.0000'],
  'conv.ts': ['step == sequence: true'],
  'selective-scan.ts': [
    'step == sequence: true',
    'chunked == sequence: true',
    'model prefill == step: true',
    '7B state bytes: 39845936 (38.0 MiB)',
  ],
  'falcon-norms.ts': ['dt, B, C each have rms 1: true'],
  'sampling.ts': ['greedy: 1', 'temperature 0 is greedy: true', 'same seed, same tokens: true', 'only top-3 ids drawn: true'],
};

describe('docs/examples', () => {
  it('every example has expectations', () => {
    const files = readdirSync(path.join(repo, 'docs/examples')).filter((f) => f.endsWith('.ts'));
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [file, lines] of Object.entries(EXPECTED)) {
    it(`${file} runs and prints what its page says`, async () => {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', `docs/examples/${file}`], {
        cwd: repo,
        timeout: 30_000,
      });
      const printed = stdout.split('\n');
      for (const line of lines) expect(printed).toContain(line);
    }, 30_000);
  }
});
