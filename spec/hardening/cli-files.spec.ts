/**
 * The CLI's files: a path that cannot be written or read (a directory, a missing folder, /dev/full,
 * /dev/zero, a huge file) is one line naming the path, never "internal error"; chat's /save and /load failures
 * keep the conversation going (the next turn works); trace opens --out before computing anything; /load caps
 * the size before reading; --threads is bounded. Spawned as a user would, on a tiny random model whose
 * tokenizer is 40 single characters (no shared files needed).
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, ftruncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemErrorLine } from '../../src/cli/common.ts';
import { runCli, type CliRun } from '../helpers/cli.ts';
import { REPO } from '../helpers/goldens.ts';
import { writeTinyModel } from '../helpers/tiny-model.ts';
import { CHAR_CHAT_TEMPLATE, CHARS_40, charTokenizerJson } from '../helpers/tiny-tokenizer.ts';

const SHAPE = { model_type: 'falcon_mamba' as const, hidden_size: 16, intermediate_size: 32, state_size: 4, conv_kernel: 4, time_step_rank: 2, num_hidden_layers: 2, vocab_size: CHARS_40.length };
const dir = writeTinyModel(SHAPE, 9);
writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(charTokenizerJson()));
writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: CHAR_CHAT_TEMPLATE }));
const work = join(dir, 'work');
mkdirSync(work);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Killed after 30 s: a regression that reads /dev/zero must not eat the machine's memory (it grew to 16 GB in 2 min). */
const cli = (args: string[], input = '') => runCli(args, input, 30_000);
type Run = CliRun;

const MODEL = ['--model', dir, '--backend', 'reference'];
const HAVE_DEV_FULL = existsSync('/dev/full');
/** stderr lines that are not the load / speed lines. */
const notes = (r: Run) => r.stderr.split('\n').filter((l) => l.startsWith('falcon-mamba: ') && !/loaded in|loading weights|no chat template/.test(l));

describe('chat /save and /load', () => {
  it('a /save that fails (a directory, a missing folder, /dev/full) is one line with the path; the conversation goes on', async () => {
    const good = join(work, 'good.chat');
    const saves = [work, join(work, 'missing', 'x.chat'), ...(HAVE_DEV_FULL ? ['/dev/full'] : [])];
    const r = await cli(['chat', ...MODEL, '--max-tokens', '3', '--seed', '1'], ['hi', ...saves.map((p) => `/save ${p}`), 'again', `/save ${good}`, ''].join('\n'));
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code, r.stderr).toBe(0);
    const lines = notes(r);
    expect(lines[0]).toBe(`falcon-mamba: ${work}: cannot write the saved chat (illegal operation on a directory, EISDIR)`);
    expect(lines[1]).toBe(`falcon-mamba: ${join(work, 'missing', 'x.chat')}: cannot write the saved chat (no such file or directory, ENOENT)`);
    if (HAVE_DEV_FULL) expect(lines[2]).toBe('falcon-mamba: /dev/full: cannot write the saved chat (no space left on device, ENOSPC)');
    // Both turns ran (two speed lines), and the last /save wrote the whole conversation.
    expect(r.stderr.match(/^\[prompt /gm)).toHaveLength(2);
    expect(lines.at(-1)).toMatch(new RegExp(`^falcon-mamba: saved 4 messages, \\d+ bytes to ${good}$`));
    expect(statSync(good).size).toBeGreaterThan(0);
    expect(existsSync(join(work, 'missing'))).toBe(false);
  });

  it('/load of /dev/zero, a directory, a missing file or a file over the cap is refused before reading; the chat goes on', async () => {
    const huge = join(work, 'huge.chat');
    const fd = openSync(huge, 'w');
    ftruncateSync(fd, 200 << 20); // sparse: 200 MB, over a state of this model + 64 MiB of metadata
    closeSync(fd);
    const r = await cli(['chat', ...MODEL, '--max-tokens', '2'], ['/load /dev/zero', `/load ${work}`, `/load ${join(work, 'nope.chat')}`, `/load ${huge}`, 'hi', ''].join('\n'));
    rmSync(huge);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code, r.stderr).toBe(0);
    const lines = notes(r);
    expect(lines[0]).toBe('falcon-mamba: /dev/zero: not a regular file (a device or socket); expected a saved chat');
    expect(lines[1]).toBe(`falcon-mamba: ${work}: not a regular file (a directory); expected a saved chat`);
    expect(lines[2]).toBe(`falcon-mamba: ${join(work, 'nope.chat')}: cannot read the saved chat (ENOENT)`);
    expect(lines[3]).toMatch(new RegExp(`^falcon-mamba: ${huge}: ${200 << 20} bytes is over the \\d+-byte limit for a saved chat$`));
    expect(r.stderr.match(/^\[prompt /gm)).toHaveLength(1);
  });

  it('a saved chat loads back in a new session', async () => {
    const file = join(work, 'round.chat');
    await cli(['chat', ...MODEL, '--max-tokens', '2'], ['hi', `/save ${file}`, ''].join('\n'));
    const r = await cli(['chat', ...MODEL, '--max-tokens', '2'], [`/load ${file}`, 'more', ''].join('\n'));
    expect(r.code, r.stderr).toBe(0);
    expect(notes(r)[0]).toBe(`falcon-mamba: loaded 2 messages from ${file}`);
    expect(r.stderr, r.stderr).toMatch(/kept \d+/); // the next turn continued the loaded state
  });
});

describe('trace --out', () => {
  it('is opened before anything else: a directory fails before the (missing) model is even looked at', async () => {
    const r = await cli(['trace', '--model', '/nonexistent/model', '--ids', '1,2', '--out', work]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`falcon-mamba: ${work}: cannot write the trace (illegal operation on a directory, EISDIR)\n`);
    const missing = join(work, 'no', 'such', 'dir', 't.safetensors');
    const m = await cli(['trace', '--model', '/nonexistent/model', '--ids', '1,2', '--out', missing]);
    expect(m.stderr).toBe(`falcon-mamba: ${missing}: cannot write the trace (no such file or directory, ENOENT)\n`);
  });

  it.runIf(HAVE_DEV_FULL)('a full disk (/dev/full) is one line with the path', async () => {
    const r = await cli(['trace', ...MODEL, '--ids', '1,2', '--out', '/dev/full']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('falcon-mamba: /dev/full: cannot write the trace (no space left on device, ENOSPC)\n');
  });

  it('a trace that fails leaves no empty file behind; one that works is written whole', async () => {
    const out = join(work, 't.safetensors');
    const bad = await cli(['trace', ...MODEL, '--ids', '1,999', '--out', out]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/token id 999 at position 1/);
    expect(existsSync(out)).toBe(false);
    const ok = await cli(['trace', ...MODEL, '--ids', '1,2', '--out', out]);
    expect(ok.code, ok.stderr).toBe(0);
    const header = Number(readFileSync(out).readBigUInt64LE(0));
    expect(statSync(out).size).toBeGreaterThan(8 + header);
  });
});

describe('system errors and --threads', () => {
  it('a system error the command did not check itself is one line with the path, not "internal error"', async () => {
    // Every output path is opened through openOutput now; main()'s fallback is what a future unchecked one meets:
    // the real error of an fs call, as main() prints it.
    const missing = join(work, 'no-such-folder', 'x');
    const e = await open(missing, 'w').then(() => undefined, (err: unknown) => err);
    expect(systemErrorLine(e)).toBe(`${missing}: cannot open (no such file or directory, ENOENT)`);
    expect(systemErrorLine(new TypeError('x'))).toBeUndefined();
  });

  it('trace of a .gguf model (no config.json beside it) works (was: internal error ENOTDIR)', async () => {
    const out = join(work, 'g.safetensors');
    const r = await cli(['trace', '--model', join(REPO, 'fixtures', 'gguf', 'falcon-odd.gguf'), '--ids', '1,2', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(out).size).toBeGreaterThan(0);
  });

  it('--threads 100000 is a usage error naming the flag', async () => {
    const text = join(work, 'threads.txt');
    writeFileSync(text, 'abc');
    for (const args of [['generate', '--prompt', 'x'], ['chat'], ['trace', '--ids', '1', '--out', join(work, 'x')], ['perplexity', '--file', text], ['score', '--tasks', text], ['serve']]) {
      const r = await cli([...args, ...MODEL, '--threads', '100000']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe('falcon-mamba: --threads must be an integer ≥ 1 ≤ 64, got "100000"');
    }
  });

  it('perplexity and score refuse a FIFO-like or device input before reading it, one line with the path', async () => {
    for (const [cmd, flag] of [['perplexity', '--file'], ['score', '--tasks']]) {
      for (const path of ['/dev/zero', work]) {
        const r = await cli([cmd, ...MODEL, flag, path]);
        expect(r.code, r.stderr).toBe(1);
        expect(notes(r)).toHaveLength(1);
        expect(notes(r)[0]).toContain(path);
        expect(notes(r)[0]).toMatch(/not a regular file/);
      }
    }
  });

  it('perplexity --kld /dev/zero is refused before reading; --save-logits to a directory fails before the model loads', async () => {
    const text = join(work, 'ppl.txt');
    writeFileSync(text, 'abcabcabcabc');
    const k = await cli(['perplexity', ...MODEL, '--file', text, '--kld', '/dev/zero']);
    expect(k.code, k.stderr).toBe(1);
    expect(notes(k)).toEqual([expect.stringMatching(/^falcon-mamba: .*\/dev\/zero.*not a regular file/)]);
    // The model folder does not exist: the output path must be the error, so it was checked first.
    const s = await cli(['perplexity', '--model', join(work, 'no-model'), '--file', text, '--save-logits', work]);
    expect(s.code, s.stderr).toBe(1);
    expect(notes(s)).toEqual([`falcon-mamba: ${work}: cannot write the log-probability file (illegal operation on a directory, EISDIR)`]);
    if (HAVE_DEV_FULL) {
      const f = await cli(['perplexity', ...MODEL, '--file', text, '--save-logits', '/dev/full']);
      expect(f.code, f.stderr).toBe(1);
      expect(notes(f).at(-1)).toMatch(/^falcon-mamba: \/dev\/full: cannot write the log-probability file \(.*ENOSPC\)/);
    }
    const ok = join(work, 'saved.topk');
    const w = await cli(['perplexity', ...MODEL, '--file', text, '--save-logits', ok]);
    expect(w.code, w.stderr).toBe(0);
    expect(statSync(ok).size).toBeGreaterThan(0);
  });
});
