// The npm package as a user gets it: pack the project from a copy of its source files that never
// ran a build (so `prepack` must build the kernels and dist/), install the tarball into a fresh project, and use it
// from every consumer a user has: a plain ESM script on Node with no loader, require(), TypeScript (strict,
// nodenext, the package's own declarations, the README's library example), the `falcon-mamba` bin through npx,
// and Deno. The consumer sources are in spec/package/consumer/.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateIds, loadModel, loadTokenizerFiles } from '../../src/index.ts';
import { REPO } from '../helpers/goldens.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of the child processes, without what the `npm test` around this spec sets for itself. */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_(package|lifecycle)_/.test(k) && k !== 'NODE_OPTIONS'));

function run(cmd: string, args: string[], cwd: string, timeout = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: ENV, timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Fails with the command's output when it did not exit 0. */
function ok(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r;
}

const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const DENO = join(REPO, 'node_modules', '.bin', 'deno');
const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
const PROMPT = 'The old man';
const MAX_TOKENS = 24;

interface PackFile {
  path: string;
  size: number;
}

let consumer: string;
let packed: { filename: string; size: number; unpackedSize: number; files: PackFile[] };
/** What the checkout's own sources generate greedily from the demo model (what every consumer must print). */
let expected: { tokens: number[]; text: string };

/** The ```ts block of the README's "## The library" section. */
function readmeLibraryExample(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## The library'));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md: no ```ts block under "## The library"');
  return m[1];
}

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'fm-package-'));
  // The source as a fresh clone has it (tracked and new files, nothing ignored: no build/, no dist/), with the
  // checkout's node_modules for the build tools.
  const source = join(root, 'source');
  const list = ok(await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], REPO), 'git ls-files');
  for (const f of list.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(REPO, f))) continue; // deleted in the work tree
    cpSync(join(REPO, f), join(source, f), { recursive: true });
  }
  symlinkSync(join(REPO, 'node_modules'), join(source, 'node_modules'), 'dir');
  const pack = ok(await run('npm', ['pack', '--json', '--pack-destination', root], source, 240_000), 'npm pack');
  packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0];
  console.log(`npm pack: ${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.files.length} files`);

  // A fresh project installs the tarball; its dependencies come from the npm cache that `npm ci` filled.
  consumer = join(root, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  cpSync(join(REPO, 'spec', 'package', 'consumer'), consumer, { recursive: true });
  writeFileSync(join(consumer, 'readme.ts'), readmeLibraryExample());
  ok(await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(root, packed.filename)], consumer), 'npm install');
  // The README example's `models/demo` is the packaged demo model.
  symlinkSync(join(consumer, 'node_modules', 'falcon-mamba', 'models'), join(consumer, 'models'), 'dir');

  const dir = join(REPO, 'models', 'demo');
  const model = await loadModel(dir, { backend: 'wasm', threads: 2 });
  try {
    const { tokenizer } = await loadTokenizerFiles(dir);
    const gen = generateIds(model, tokenizer.encode(PROMPT), { maxTokens: MAX_TOKENS, temperature: 0 });
    const { tokens } = await gen.done();
    expected = { tokens, text: tokenizer.decode(tokens, { skipSpecialTokens: true }) };
  } finally {
    await model.dispose();
  }
}, 300_000);

describe.concurrent('the npm package, installed into a fresh project', () => {
  it('the tarball holds the compiled library, the kernels, the demo model, README and LICENSE, nothing else', () => {
    const paths = packed.files.map((f) => f.path);
    const allowed = /^(package\.json|README\.md|LICENSE|dist\/.+\.(js|d\.ts)|build\/kernels(-relaxed)?\.wasm|models\/demo\/[^/]+)$/;
    expect(paths.filter((p) => !allowed.test(p))).toEqual([]);
    for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/run.js', 'dist/wasm/worker.js', 'dist/wasm/jobs.js', 'build/kernels.wasm', 'build/kernels-relaxed.wasm', 'models/demo/model.safetensors', 'models/demo/tokenizer.json', 'LICENSE']) {
      expect(paths, p).toContain(p);
    }
    // No TypeScript loader (or compiler) came with it: what runs is plain JavaScript.
    for (const dev of ['tsx', 'typescript', 'esbuild']) expect(existsSync(join(consumer, 'node_modules', dev)), dev).toBe(false);
  });

  it('node consumer.mjs (plain ESM, no loader): the packaged demo model on the wasm backend generates what the checkout does', async () => {
    const r = ok(await run(process.execPath, ['consumer.mjs'], consumer), 'node consumer.mjs');
    const out = JSON.parse(r.stdout);
    expect(out.entry).toBe(`file://${join(consumer, 'node_modules', 'falcon-mamba', 'dist', 'index.js')}`);
    expect(out.backend).toBe('wasm');
    expect(out.notices).toEqual([]); // e.g. no fallback to 1 thread for want of the worker script
    expect(out.tokens).toEqual(expected.tokens);
    expect(out.text).toBe(expected.text);
  });

  it('require() from CommonJS gets the same exports', async () => {
    const r = ok(await run(process.execPath, ['-e', 'const m = require("falcon-mamba"); console.log(typeof m.loadModel, typeof m.Tokenizer)'], consumer), 'require');
    expect(r.stdout.trim()).toBe('function function');
  });

  it('tsc (strict, module nodenext, no skipLibCheck): the consumer and the README example have 0 errors and run; bad.ts has exactly its 2', async () => {
    // One program (one type-check of the package's declarations): consumer.ts, readme.ts and bad.ts. The options
    // are given here rather than in a tsconfig.json, which Deno would read too (and then check bad.ts).
    // --target es2022: Node 20 cannot parse `await using` itself, so tsc lowers it.
    const options = ['--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', 'false', '--types', 'node', '--typeRoots', join(REPO, 'node_modules', '@types'), '--outDir', 'out'];
    const r = await run(process.execPath, [TSC, ...options, 'consumer.ts', 'readme.ts', 'bad.ts'], consumer);
    const errors = (r.stdout + r.stderr).split('\n').filter(Boolean);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^bad\.ts\(4,\d+\): error TS2322: Type '"gpu"' is not assignable to type 'Backend \| undefined'/);
    expect(errors[1]).toMatch(/^bad\.ts\(5,\d+\): error TS2339: Property 'dtype' does not exist on type 'Model\b/);
    const ts = ok(await run(process.execPath, ['out/consumer.js'], consumer), 'node out/consumer.js');
    expect(ts.stdout).toMatch(/\nvocab \d+ logits \d+ state \d+ bytes, \d+ tokens\n/);
    expect(ts.stdout).toMatch(/\nafter await using: this model has been disposed\n$/);
    const readme = ok(await run(process.execPath, ['out/readme.js'], consumer), 'node out/readme.js (the README example)');
    expect(readme.stdout.length).toBeGreaterThan(0);
  });

  it('npx falcon-mamba --version and generate with the packaged demo model', async () => {
    const v = ok(await run('npx', ['falcon-mamba', '--version'], consumer), 'npx falcon-mamba --version');
    expect(v.stdout).toBe(`${PKG.version}\n`);
    const g = ok(await run('npx', ['falcon-mamba', 'generate', '--model', 'node_modules/falcon-mamba/models/demo', '--prompt', PROMPT, '-n', String(MAX_TOKENS)], consumer), 'npx falcon-mamba generate');
    expect(g.stdout).toBe(expected.text.endsWith('\n') ? expected.text : expected.text + '\n');
    expect(g.stderr).toMatch(new RegExp(`^load [\\d.]+ s · prompt 3 tok .* · decode ${MAX_TOKENS} tok .* · finish length · RSS \\d+ MB\\n$`, 'm'));
  });

  it('Deno runs the same script against the installed package, and type-checks the TypeScript consumer', async () => {
    const r = ok(await run(DENO, ['run', '--allow-read', '--allow-env', 'consumer.mjs'], consumer), 'deno run consumer.mjs');
    const out = JSON.parse(r.stdout);
    expect(out.entry).toBe(`file://${join(consumer, 'node_modules', 'falcon-mamba', 'dist', 'index.js')}`);
    expect(out.tokens).toEqual(expected.tokens);
    expect(out.text).toBe(expected.text);
    // Deno runs the TypeScript consumer itself (`await using` natively), after checking it.
    const ts = ok(await run(DENO, ['run', '--check', '--allow-read', '--allow-env', 'consumer.ts'], consumer), 'deno run --check consumer.ts');
    expect(ts.stdout).toMatch(/\nafter await using: this model has been disposed\n$/);
  });
});
