// Ctrl-C through a pseudo-terminal (spec/helpers/pty-run.py, python3's pty): the CLI sees a real terminal, and
// Ctrl-C arrives as a terminal sends it (SIGINT in `generate`, the 0x03 key in chat's raw-mode readline).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/goldens.ts';

type Step = { expect: string } | { send: string } | { sleep: number };
interface PtyRun {
  status: number | null;
  transcript: string;
  marks: number[];
  error: string | null;
}

function pty(args: string[], steps: Step[], timeout = 90): Promise<PtyRun> {
  const spec = JSON.stringify({ cmd: [process.execPath, 'src/cli/bin.js', ...args], cwd: REPO, steps, timeout });
  return new Promise((resolve, reject) => {
    execFile('python3', [join(REPO, 'spec', 'helpers', 'pty-run.py'), spec], { maxBuffer: 64 << 20 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(JSON.parse(stdout));
    });
  });
}

const DEMO = ['--model', 'models/demo', '--threads', '1'];
const CTRL_C = '\u0003';

describe('Ctrl-C in a terminal', () => {
  it('generate: stops generating, prints the text so far and the speed line (finish abort), exits 130', async () => {
    // 10^6 tokens would take most of an hour: only Ctrl-C ends this within the spec's time.
    const r = await pty(['generate', ...DEMO, '--prompt', 'The old man', '-n', '1000000', '--echo'], [
      { expect: 'The old man' },
      { sleep: 0.5 },
      { send: CTRL_C },
      { expect: 'finish abort' },
    ]);
    expect(r.error, r.transcript.slice(-500)).toBeNull();
    expect(r.status).toBe(130);
    const m = /\r\nload [\d.]+ s · prompt 3 tok .* · decode (\d+) tok .* · finish abort · RSS \d+ MB\r\n$/.exec(r.transcript);
    expect(m, r.transcript.slice(-300)).not.toBeNull();
    const decoded = Number(m![1]);
    expect(decoded).toBeGreaterThan(0);
    expect(decoded).toBeLessThan(1_000_000);
  });

  it('chat: a half-typed line is cleared, not sent; Ctrl-C at an empty prompt asks, a second one exits 130', async () => {
    const r = await pty(['chat', ...DEMO, '-n', '8'], [
      { expect: '> ' },
      { send: 'half a line' },
      { sleep: 0.3 },
      { send: CTRL_C },
      { sleep: 0.3 },
      { send: '\r' }, // the cleared line: an empty line, which sends nothing
      { sleep: 0.5 },
      { send: CTRL_C },
      { expect: 'To exit, press Ctrl\\+C again' },
      { send: CTRL_C },
    ]);
    expect(r.error, r.transcript.slice(-500)).toBeNull();
    expect(r.status).toBe(130);
    expect(r.transcript).not.toMatch(/\[prompt/); // no turn ran
  });

  it('chat: Ctrl-C during a reply stops it and returns to the prompt; the next turn continues the conversation', async () => {
    const r = await pty(['chat', ...DEMO, '-n', '1000000', '--temperature', '0'], [
      { expect: '> ' },
      { send: 'Tell me a long story\r' },
      { sleep: 1 },
      { send: CTRL_C },
      { expect: 'finish abort' },
      { expect: '> ' },
      { send: 'Go on\r' },
      { sleep: 0.5 },
      { send: CTRL_C },
      { expect: 'finish abort' },
      { expect: '> ' },
      { send: '/exit\r' },
    ]);
    expect(r.error, r.transcript.slice(-500)).toBeNull();
    expect(r.status).toBe(0); // ended by /exit
    const turns = r.transcript.split('\r\n').filter((l) => l.startsWith('[prompt'));
    expect(turns).toHaveLength(2);
    expect(turns[0]).toMatch(/ · prefilled \d+ tok · finish abort · /);
    // The aborted reply stayed in the state: the second turn feeds only its own tokens after all of it.
    const kept = /decode (\d+) tok/.exec(turns[0])![1];
    expect(turns[1]).toMatch(new RegExp(` · fed \\d+ new tok, kept (\\d+) · finish abort · `));
    expect(Number(/kept (\d+)/.exec(turns[1])![1])).toBeGreaterThan(Number(kept));
  });
});
