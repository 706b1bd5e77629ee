// The falcon-mamba CLI, spawned as a user would (`node src/cli/bin.js …`, cwd = repo root), on a temp model
// folder = the shared golden model + the Falcon tokenizer: --json ids equal the library's greedy ids, stdin
// prompts, stop strings, chat over piped stdin, tokenize/info, help, and the error paths' exit codes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/index.ts';
import { ChatSession, generate, generateIds } from '../../src/generate/index.ts';
import { loadTokenizerFiles, type TokenizerFiles } from '../../src/tokenizer/index.ts';
import { runCli as cli } from '../helpers/cli.ts';
import { REPO } from '../helpers/goldens.ts';
import { HAVE_SHARED, makeTokenizedModel, removeDirs } from '../generate/helpers.ts';

const COMMANDS = ['generate', 'chat', 'tokenize', 'info'];

describe('CLI usage and errors (no model needed)', () => {
  it('--help for the program and every command', async () => {
    const [top, ...each] = await Promise.all([cli(['--help']), ...COMMANDS.map((c) => cli([c, '--help']))]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Usage: falcon-mamba <command>/);
    each.forEach((r, i) => {
      expect(r.code, COMMANDS[i]).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Usage: falcon-mamba ${COMMANDS[i]}`));
    });
  });

  it('bad usage: exit 2, one line naming the problem, then a hint', async () => {
    const cases: [string[], RegExp][] = [
      [[], /no command given/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['generate', '--model', 'x', '--prompt', 'y', '--bogus'], /Unknown option '--bogus'/],
      [['generate', '--model', 'x', '--prompt', 'y', '--dtype', 'q9'], /unknown dtype "q9"/],
      [['generate', '--model', 'x', '--prompt', 'y', '--max-tokens', 'ten'], /--max-tokens must be an integer ≥ 0, got "ten"/],
      [['generate', '--prompt', 'y'], /--model DIR is required/],
      [['tokenize', '--model', 'x'], /expected one TEXT argument/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    for (const [i, [args, message]] of cases.entries()) {
      const r = runs[i];
      expect(r.code, args.join(' ')).toBe(2);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines.length).toBe(2);
      expect(lines[0]).toMatch(/^falcon-mamba: /);
      expect(lines[0]).toMatch(message);
      expect(lines[1]).toMatch(/^Try 'falcon-mamba( \w+)? --help'\.$/);
      expect(r.stdout).toBe('');
    }
  });

  it('a missing model folder: exit 1, one line, no stack (stack with --verbose)', async () => {
    const [r, v] = await Promise.all([
      cli(['generate', '--model', '/nonexistent/model', '--prompt', 'x']),
      cli(['info', '--model', '/nonexistent/model', '--verbose']),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('falcon-mamba: /nonexistent/model: not a model folder (expected a directory with config.json and *.safetensors)\n');
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/CheckpointError: .*\n\s+at /);
  });
});

describe.runIf(HAVE_SHARED)('CLI on a model folder (shared tiny model + Falcon tokenizer)', () => {
  const dirs: string[] = [];
  let dir: string;
  let model: Model;
  let files: TokenizerFiles;
  beforeAll(async () => {
    dir = makeTokenizedModel();
    dirs.push(dir);
    model = await loadModel(dir, { backend: 'reference' });
    files = await loadTokenizerFiles(dir);
  });
  afterAll(() => removeDirs(dirs));

  async function libraryGreedy(text: string, maxTokens: number): Promise<number[]> {
    const out: number[] = [];
    // eos: generation_config.json (0) and tokenizer_config.json's eos_token (<|endoftext|> = 11), as the CLI.
    for await (const e of generateIds(model, files.tokenizer.encode(text), { maxTokens, eosTokenIds: [0, 11] })) out.push(e.token);
    return out;
  }

  it('generate --json: token ids = the library greedy ids (reference and default backend)', async () => {
    const runs: [string, string[]][] = [['The old man', ['--backend', 'reference']], ['Once upon a time', ['--backend', 'reference']], ['Once upon a time', []]];
    const results = await Promise.all(runs.map(([prompt, backend]) => cli(['generate', '--model', dir, '--prompt', prompt, '--max-tokens', '16', '--json', ...backend])));
    for (const [i, [prompt, backend]] of runs.entries()) {
      const r = results[i];
      const want = await libraryGreedy(prompt, 16);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.promptTokens).toEqual(files.tokenizer.encode(prompt));
      expect(j.tokens, `${prompt} ${backend.join(' ')}`).toEqual(want);
      expect(j.text).toBe(files.tokenizer.decode(want, { skipSpecialTokens: true }));
      expect(j.finishReason).toBe('length');
      // stderr is a pipe: the load's progress is two plain lines (start, done), then the speed line.
      expect(r.stderr).toMatch(/^falcon-mamba: loading weights: [\d.]+ [kMG]?B\nfalcon-mamba: loading weights: done, [\d.]+ [kMG]?B in [\d.]+ s \([\d.]+ [kMG]?B\/s\)\nload [\d.]+ s · prompt \d+ tok [\d.]+ tok\/s · decode 16 tok [\d.]+ tok\/s · finish length · RSS \d+ MB\n$/);
    }
  });

  it('generate streams only the text to stdout; --echo and --prompt - (stdin)', async () => {
    const want = files.tokenizer.decode(await libraryGreedy('The old man', 8), { skipSpecialTokens: true });
    const r = await cli(['generate', '--model', dir, '--prompt', '-', '--max-tokens', '8', '--echo', '--backend', 'reference'], 'The old man');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(('The old man' + want).replace(/\n?$/, '\n')); // the output ends with a newline, also into a pipe
    expect(r.stderr.split('\n').filter(Boolean).length).toBe(3); // load start, load done, speed
  });

  it('seeds and stop strings through the CLI (same seed = the library, across processes)', async () => {
    const run = async (...extra: string[]) => {
      const r = await cli(['generate', '--model', dir, '--prompt', 'The old man', '--max-tokens', '12', '--json', '--backend', 'reference', '--temperature', '1', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const [a, c] = await Promise.all([run('--seed', '3'), run('--seed', '4')]);
    const lib = generate(model, files.tokenizer, 'The old man', { maxTokens: 12, temperature: 1, seed: 3, eosTokenIds: [0, 11] });
    let text = '';
    for await (const e of lib) text += e.text;
    expect(a.tokens).toEqual(lib.summary!.tokens);
    expect(a.text).toBe(text);
    expect(c.text).not.toBe(a.text);
    const stop = a.text.slice(6, 9);
    const s = await run('--seed', '3', '--stop', 'never-there', '--stop', stop);
    expect(s.finishReason).toBe('stop');
    expect(s.text).toBe(a.text.slice(0, a.text.indexOf(stop)));
  });

  it('chat over piped stdin: replies = ChatSession, state kept, /save /reset /load /exit', async () => {
    const state = join(dir, 'chat.state');
    const input = ['The old man', 'the man', `/save ${state}`, '/reset', `/load ${state}`, 'a man man', '/exit', 'never read'].join('\n') + '\n';
    const r = await cli(['chat', '--model', dir, '--system', 'Be brief', '--max-tokens', '5', '--backend', 'reference'], input);
    expect(r.code, r.stderr).toBe(0);
    const session = new ChatSession(model, files, { system: 'Be brief', maxTokens: 5, eosTokenIds: [0, 11] });
    const replies: string[] = [];
    for (const q of ['The old man', 'the man', 'a man man']) {
      let t = '';
      for await (const e of session.send(q)) t += e.text;
      replies.push(t);
    }
    expect(r.stdout).toBe(replies.map((t) => t + '\n').join(''));
    const speed = r.stderr.split('\n').filter((l) => l.startsWith('[prompt'));
    expect(speed.length).toBe(3);
    expect(speed[1]).toMatch(/fed \d+ new tok, kept \d+/);
    expect(speed[2]).toMatch(/fed \d+ new tok, kept \d+/); // after /load: still incremental
    expect(r.stderr).toMatch(/saved 5 messages/);
    expect(r.stderr).toMatch(/loaded 5 messages/);
  });

  it('chat /load of a bad file is a one-line error; the exit status is how the session ended (0: input ended)', async () => {
    const bad = join(dir, 'bad.state');
    writeFileSync(bad, 'not a state');
    const r = await cli(['chat', '--model', dir, '--backend', 'reference'], `/load ${bad}\nHello\n`);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n').filter((l) => /loadState/.test(l))).toEqual([expect.stringMatching(/^falcon-mamba: loadState: .* too short/)]);
    expect(r.stderr).toMatch(/\[prompt \d+ tok .* finish \w+ · RSS \d+ MB\]/); // the turn after the failed /load ran
  });

  it('tokenize and info --json', async () => {
    const [t, i] = await Promise.all([cli(['tokenize', '--model', dir, '--json', 'Hello world, 1234567']), cli(['info', '--model', dir, '--json'])]);
    expect(t.code, t.stderr).toBe(0);
    const tj = JSON.parse(t.stdout);
    expect(tj.ids).toEqual([9856, 1079, 23, 204, 10963, 27681, 34]);
    expect(tj.tokens[1]).toBe('Ġworld');
    expect(i.code, i.stderr).toBe(0);
    const ij = JSON.parse(i.stdout);
    expect(ij.config.nLayer).toBe(4);
    expect(ij.parameters).toBe(65024 * 128 + 128 + 4 * (128 + 512 * 128 + 256 * 4 + 256 + 24 * 256 + 256 * 8 + 256 + 256 * 8 + 256 + 128 * 256));
    expect(ij.stateBytesPerSequence).toBe(4 * 4 * 256 * (3 + 8));
    expect(ij.eosTokenIds).toEqual([0]);
    expect(ij.tokenizer.chatTemplate).toBe(true);
    // The wasm engine's memory plan per format: the weights and more (scratch), q4 below q8 (on a model this
    // small the q8 staging and the logits scratch outweigh what quantizing saves over bf16), one part each.
    const m = ij.wasmMemory;
    expect(m.auto.bytes).toBeGreaterThan(ij.weightBytes);
    expect(m.q4.bytes).toBeLessThan(m.q8.bytes);
    expect([m.auto.parts, m.q8.parts, m.q4.parts]).toEqual([1, 1, 1]);
  });

  it('unknown dtype for the reference backend and a folder without tokenizer are one-line errors', async () => {
    const [r, n] = await Promise.all([
      cli(['generate', '--model', dir, '--prompt', 'x', '--backend', 'reference', '--dtype', 'q8']),
      cli(['generate', '--model', join(REPO, 'fixtures/models/falcon-odd'), '--prompt', 'x']),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^falcon-mamba: the reference backend computes in f32; dtype "q8" needs backend "wasm"\n$/);
    expect(n.code).toBe(1);
    expect(n.stderr).toMatch(/^falcon-mamba: .*tokenizer\.json: cannot read/);
    expect(n.stderr.split('\n').filter(Boolean).length).toBe(1);
  });
});
