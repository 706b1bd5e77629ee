/**
 * `falcon-mamba trace` and `falcon-mamba compare` as a user runs them (`node src/cli/bin.js …`, or the
 * command functions directly when the bin is absent): exit codes, the files written, the first diverging
 * name printed, usage errors. ORACLE_CLI_DIRECT=1 forces the direct path.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareMain } from '../../src/cli/compare.ts';
import { traceMain } from '../../src/cli/trace.ts';
import { readTrace, traceNames } from '../../src/oracle/index.ts';
import { loadTokenizerFiles } from '../../src/tokenizer/index.ts';
import { CLI_BIN, runCli, type CliRun } from '../helpers/cli.ts';
import { REPO } from '../helpers/goldens.ts';
import { FALCON_TOKENIZER, HAVE_SHARED, makeTokenizedModel, removeDirs } from '../generate/helpers.ts';
import { TINY, writeTinyModel } from '../helpers/tiny-model.ts';

/** Without the bin: the command functions, capturing stdout/stderr; a thrown usage error counts as exit 2. */
async function direct(args: string[]): Promise<CliRun> {
  const [cmd, ...rest] = args;
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await (cmd === 'trace' ? traceMain(rest) : compareMain(rest));
    return { code, stdout: out.join(''), stderr: err.join('') };
  } catch (e) {
    const usage = (e as Error).name === 'UsageError';
    return { code: usage ? 2 : 1, stdout: out.join(''), stderr: err.join('') + (e as Error).message };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

const cli = (args: string[]) => (existsSync(CLI_BIN) && !process.env.ORACLE_CLI_DIRECT ? runCli(args) : direct(args));

let work: string;
let good: string;
let buggy: string;
const dirs: string[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'fm-oracle-cli-'));
  good = writeTinyModel(TINY, 5, join(work, 'good'));
  // The planted bug of docs/oracle.md: the same weights, run as plain Mamba (no dt/B/C norm).
  buggy = join(work, 'buggy');
  cpSync(good, buggy, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(buggy, 'config.json'), 'utf8'));
  writeFileSync(join(buggy, 'config.json'), JSON.stringify({ ...cfg, model_type: 'mamba' }));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  removeDirs(dirs);
});

describe('falcon-mamba trace / compare', () => {
  it('trace --ids writes a trace with the ids, config and backend in its metadata', async () => {
    const out = join(work, 'good.safetensors');
    const r = await cli(['trace', '--model', good, '--ids', '1,2,3', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote \d+ tensors .* for 3 tokens/);
    const t = await readTrace(out);
    expect(t.ids).toEqual([1, 2, 3]);
    expect(t.metadata.backend).toBe('reference');
    expect(t.metadata.format).toBe('trace-1');
    expect(t.config?.hidden_size).toBe(TINY.hidden_size);
    expect(t.tensors.map((x) => x.name)).toEqual(traceNames(TINY.num_hidden_layers, true));
  });

  it('compare of a trace with itself: exit 0, no divergence', async () => {
    const f = join(work, 'good.safetensors');
    const r = await cli(['compare', f, f]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/no divergence/);
    expect(r.stdout).toMatch(/layers\.1\.mixer\.scan\.y_D/);
  });

  it('compare names the first diverging tensor of the planted bug, exit 1; --json; --strict', async () => {
    const bad = join(work, 'buggy.safetensors');
    expect((await cli(['trace', '--model', buggy, '--ids', '1,2,3', '--out', bad])).code).toBe(0);
    const f = join(work, 'good.safetensors');
    const r = await cli(['compare', bad, f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^>> layers\.0\.mixer\.dt_proj\.out .*DIVERGED {2}<-- first outside tolerance$/m);
    expect(r.stdout).toMatch(/first divergence: layers\.0\.mixer\.dt_proj\.out/);
    expect(r.stdout).toMatch(/layers\.0\.mixer\.x_proj\.dt_normed .*only in B/);
    const j = await cli(['compare', bad, f, '--json']);
    expect(j.code).toBe(1);
    const parsed = JSON.parse(j.stdout);
    expect(parsed.first).toBe('layers.0.mixer.dt_proj.out');
    expect(parsed.ok).toBe(false);
    const s = await cli(['compare', bad, f, '--strict', '--json']);
    expect(JSON.parse(s.stdout).first).toBe('layers.0.mixer.x_proj.dt_normed');
    // A loose enough tolerance lets everything through.
    expect((await cli(['compare', bad, f, '--rtol', '1e9'])).code).toBe(0);
  });

  it.runIf(existsSync(join(REPO, 'fixtures', 'goldens', 'falcon-odd.trace.safetensors')))(
    'compare of our trace against the transformers trace is clean',
    async () => {
      const hf = join(REPO, 'fixtures', 'goldens', 'falcon-odd.trace.safetensors');
      const ids = (await readTrace(hf)).ids!;
      const ours = join(work, 'falcon-odd.safetensors');
      const t = await cli(['trace', '--model', join(REPO, 'fixtures', 'models', 'falcon-odd'), '--ids', ids.join(','), '--out', ours]);
      expect(t.code, t.stderr).toBe(0);
      const r = await cli(['compare', ours, hf, '--strict']);
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toMatch(/\[transformers 5\.\d+/);
      expect(r.stdout).toMatch(/layers\.2\.mixer\.conv_state/);
    },
  );

  it.runIf(HAVE_SHARED)('trace --prompt encodes with the folder tokenizer', async () => {
    const dir = makeTokenizedModel();
    dirs.push(dir);
    const out = join(work, 'prompt.safetensors');
    const r = await cli(['trace', '--model', dir, '--prompt', 'The old man', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const { tokenizer } = await loadTokenizerFiles(dir);
    expect((await readTrace(out)).ids).toEqual(tokenizer.encode('The old man'));
    expect(existsSync(FALCON_TOKENIZER)).toBe(true);
  });

  it('bad usage exits 2', async () => {
    const f = join(work, 'good.safetensors');
    const cases: string[][] = [
      ['trace', '--model', good, '--ids', '1,2'],
      ['trace', '--model', good, '--out', f],
      ['trace', '--model', good, '--ids', '1,2', '--prompt', 'x', '--out', f],
      ['trace', '--model', good, '--ids', '1,x', '--out', f],
      ['trace', '--model', good, '--ids', '1', '--out', f, '--bogus'],
      ['compare', f],
      ['compare', f, f, '--rtol', 'abc'],
      ['compare', f, f, '--bogus'],
    ];
    for (const args of cases) expect((await cli(args)).code, args.join(' ')).toBe(2);
  });

  it('--backend wasm: traces if the wasm model implements trace, else says so (exit 1)', async () => {
    const r = await cli(['trace', '--model', good, '--ids', '1,2,3', '--out', join(work, 'wasm.safetensors'), '--backend', 'wasm']);
    if (r.code !== 0) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot trace|wasm/);
    }
  });
});
