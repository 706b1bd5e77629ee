/**
 * Fuzz the two remaining parsers of untrusted input: saved chats (ChatSession.restore over the state format
 * with chat metadata) and CLI argument vectors (main() in-process, every command). Each generated case either
 * succeeds or ends in one of the project's errors — for the CLI: exit 0, 1 or 2 with no "internal error" line
 * (main prints anything else as one) — within a time bound. Fixed seed; FUZZ_RUNS (e.g. FUZZ_RUNS=20000) for a
 * longer local run.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { FalconMambaError } from '../../src/errors.ts';
import { parseConfig } from '../../src/config.ts';
import { ChatSession } from '../../src/generate/chat.ts';
import { saveState } from '../../src/state.ts';
import { zeroState, type Model } from '../../src/model.ts';
import { COMMANDS, main } from '../../src/cli/main.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = 15;

const config = parseConfig({ model_type: 'mamba', hidden_size: 8, intermediate_size: 16, state_size: 4, conv_kernel: 4, time_step_rank: 2, num_hidden_layers: 2, vocab_size: 10 });
const model = { config, backend: 'reference', createState: () => zeroState(config) } as unknown as Model;
const good = { kind: 'falcon-mamba-chat', version: 1, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }], text: 'hi yo', tokens: [1, 2, 3], pending: 3, hasState: true };

function onlyOwnErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof FalconMambaError)) throw e;
  }
}

describe('fuzz: saved chats', () => {
  const json = fc.jsonValue({ maxDepth: 3 });
  const field = fc.constantFrom(...Object.keys(good));
  // A valid saved chat with some fields replaced by anything (or removed), or any JSON at all.
  const metadata = fc.oneof(
    fc.dictionary(field, fc.oneof(json, fc.constant(undefined), fc.array(json, { maxLength: 4 }), fc.array(fc.record({ role: json, content: json }, { requiredKeys: [] }), { maxLength: 3 }))).map((patch) => ({ ...good, ...patch })),
    json,
  );
  it('restore of any metadata ends in an InputError or restores a session that can be saved again', () => {
    fc.assert(
      fc.property(metadata, (meta) => {
        const session = new ChatSession(model, { tokenizer: {} as never });
        onlyOwnErrors(() => {
          session.restore(saveState(config, zeroState(config), meta));
          // Restored: it holds only well-formed messages and ids of this vocabulary (what a turn relies on)…
          for (const m of session.messages) expect([typeof m.role, typeof m.content]).toEqual(['string', 'string']);
          for (const id of session.tokens) expect(Number.isInteger(id) && id >= 0 && id < config.vocabSize, `token ${id}`).toBe(true);
          // …and saves and restores again to the same conversation.
          const again = new ChatSession(model, { tokenizer: {} as never });
          again.restore(session.save());
          expect(again.messages).toEqual(session.messages);
          expect(again.tokens).toEqual(session.tokens);
        });
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
  it('restore of damaged saved-chat bytes (flipped, cut, extended) ends in an InputError or restores', () => {
    const bytes = saveState(config, zeroState(config), good);
    const edit = fc.oneof(
      fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
        const b = bytes.slice();
        for (const [at, v] of flips) b[at] = v;
        return b;
      }),
      fc.nat(bytes.length).map((n) => bytes.slice(0, n)),
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => Uint8Array.from([...bytes, ...tail])),
    );
    fc.assert(
      fc.property(edit, (b) => {
        onlyOwnErrors(() => new ChatSession(model, { tokenizer: {} as never }).restore(b));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
});

describe('fuzz: CLI argument vectors', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'fm-argv-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  // Every flag any command documents, long and short, from the help texts.
  const helps = COMMANDS.map((c) => c.help).join('\n');
  const flags = [...new Set([...helps.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b/g)].map((m) => m[1]))];
  it('the flags come from every help text', () => {
    expect(flags).toEqual(expect.arrayContaining(['--model', '-m', '--threads', '--out', '--max-tokens', '--temperature', '--save-logits', '--port']));
  });
  // Values: numbers in and out of every range, words, JSON, paths that do not exist (under a temp dir, so a file a
  // command would create stays there). Never "-": that reads stdin, which an in-process run cannot feed.
  const value = fc.oneof(
    fc.constantFrom('0', '1', '-1', '2', '64', '65', '100000', '1e309', '-0', 'NaN', 'Infinity', '0.5', '1e-300', '', ' ', 'abc', 'q8', 'q4', 'bf16', 'wasm', 'reference', '{"a":1}', '1,2,3', '1,,x', '--', '=', 'x=y'),
    fc.constantFrom('missing', 'out.bin', 'dir/none').map((p) => join(tmp, p)),
    fc.string({ maxLength: 6 }).filter((s) => s !== '-'),
  );
  const token = fc.oneof(fc.constantFrom(...flags), fc.constantFrom(...flags).chain((f) => value.map((v) => `${f}=${v}`)), value);
  const argv = fc.tuple(fc.constantFrom(...COMMANDS.map((c) => c.name), 'help', '--help', '--version', 'nope'), fc.array(token, { maxLength: 10 }), fc.boolean()).map(([cmd, rest, withModel]) =>
    [cmd, ...rest, ...(withModel ? ['--model', join(tmp, 'no-model')] : [])],
  );

  it('main() on random argv exits 0, 1 or 2 without an internal error, each within 5 s', async () => {
    const err: string[] = [];
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    try {
      await fc.assert(
        fc.asyncProperty(argv, async (args) => {
          err.length = 0;
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no exit within 5 s: ${JSON.stringify(args)}`)), 5000)));
          const code = await Promise.race([main(args), timeout]).finally(() => clearTimeout(timer));
          const text = err.join('');
          if (![0, 1, 2].includes(code) || /internal error/.test(text)) throw new Error(`${JSON.stringify(args)} → exit ${code}: ${text}`);
          // An error is one line (usage errors: one line and the hint; --verbose adds the stack).
          const verbose = args.includes('--verbose') || args.includes('-v');
          if (code !== 0 && !verbose && text.trimEnd().split('\n').length > (code === 2 ? 2 : 1)) throw new Error(`${JSON.stringify(args)} → more than one line: ${text}`);
        }),
        { numRuns: RUNS, seed: SEED },
      );
    } finally {
      out.mockRestore();
      errSpy.mockRestore();
    }
    // Nothing was written outside the temp dir's own names.
    expect(readdirSync(tmp).filter((f) => !['missing', 'out.bin', 'dir'].includes(f))).toEqual([]);
  });
});
