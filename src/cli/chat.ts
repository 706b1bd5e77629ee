/**
 * `falcon-mamba chat`: an interactive chat (node:readline) that keeps the recurrent state between turns and
 * feeds only each new turn's tokens (ChatSession). Works with piped stdin too: one line = one user turn.
 */
import process from 'node:process';
import { createInterface } from 'node:readline';
import { ChatSession } from '../generate/chat.ts';
import { FalconMambaError, InputError } from '../errors.ts';
import { readFileBytes } from '../io/files.ts';
import { maxStateFileBytes } from '../state.ts';
import { backendFlag, dtypeFlag, mixerEpsFlag, eventLoopTurns, EXIT_INTERRUPTED, MODEL_OPTIONS, MODEL_OPTIONS_HELP, modelFlag, note, openModel, openOutput, parse, rate, rssMB, systemErrorLine, threadsFlag, type Command } from './common.ts';
import { parseSamplingFlags, SAMPLING_HELP, SAMPLING_OPTIONS, samplingOptions } from './generate.ts';

const OPTIONS = {
  ...MODEL_OPTIONS,
  ...SAMPLING_OPTIONS,
  system: { type: 'string', short: 's' },
} as const;

const REPL_HELP = `commands: /save FILE  /load FILE  /reset  /exit  /help`;

/** The `chat` command. */
export const chatCommand: Command = {
  name: 'chat',
  summary: 'an interactive chat that keeps the state between turns',
  help: `Usage: falcon-mamba chat --model DIR [--system TEXT] [options]

Each line you type is a user turn; the reply streams to stdout and a speed line goes to stderr.
The recurrent state is kept between turns, so only the new turn's tokens are fed.
In the chat: /save FILE (state + history), /load FILE, /reset, /exit, /help.
Reads piped stdin line by line when it is not a terminal.

  --system, -s TEXT      a system prompt (prefilled once)
${SAMPLING_HELP}
${MODEL_OPTIONS_HELP}`,

  async run(argv) {
    const { values: v } = parse('chat', argv, OPTIONS);
    if (v.help) {
      process.stdout.write(this.help + '\n');
      return 0;
    }
    const dir = modelFlag('chat', v.model);
    const flags = {
      backend: backendFlag('chat', v.backend),
      dtype: dtypeFlag('chat', v.dtype),
      threads: threadsFlag('chat', v.threads),
      mixerRmsEps: mixerEpsFlag('chat', v['mixer-eps'], dir),
    };
    const sampling = parseSamplingFlags('chat', v);
    const { model, files, generation, loadMs } = await openModel(dir, flags);
    try {
      const options = samplingOptions(sampling, generation, files, true);
      if (!files.chatTemplate) note('falcon-mamba: this model has no chat template; using a plain "User: …\\nAssistant:" prompt');
      const session = new ChatSession(model, files, { ...options, system: v.system, fallback: true });
      await session.prime();
      const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
      note(`falcon-mamba: loaded in ${(loadMs / 1000).toFixed(2)} s · RSS ${rssMB()}${tty ? ` · ${REPL_HELP}` : ''}`);
      const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
      const out = process.stdout;
      // Ctrl-C, as in node's REPL: during a reply it stops the reply (the session keeps what was generated, so
      // the next turn continues the conversation); on a half-typed line it clears the line; at an empty prompt it
      // asks for a second one, which ends the session (exit 130). Without a terminal (piped input) SIGINT ends
      // the session, stopping any reply.
      let turn: AbortController | null = null;
      let exitAsked = false;
      let interrupted = false;
      const onInterrupt = () => {
        if (!tty) {
          interrupted = true;
          turn?.abort();
          rl.close();
        } else if (turn) turn.abort();
        else if (rl.line.length > 0) {
          rl.write(null, { ctrl: true, name: 'e' });
          rl.write(null, { ctrl: true, name: 'u' });
          exitAsked = false;
        } else if (exitAsked) {
          interrupted = true;
          out.write('\n');
          rl.close();
        } else {
          exitAsked = true;
          out.write('\n(To exit, press Ctrl+C again or Ctrl+D or type /exit)\n');
          rl.prompt();
        }
      };
      rl.on('SIGINT', onInterrupt);
      process.on('SIGINT', onInterrupt);
      rl.on('line', () => {
        exitAsked = false;
      });
      const tick = eventLoopTurns();
      if (tty) rl.setPrompt('> ');
      if (tty) rl.prompt();
      try {
        for await (const raw of rl) {
          const line = raw.trim();
          if (line === '') {
            if (tty) rl.prompt();
            continue;
          }
          if (line.startsWith('/')) {
            const [cmd, ...rest] = line.split(/\s+/);
            const arg = rest.join(' ');
            try {
              if (cmd === '/exit' || cmd === '/quit') break;
              else if (cmd === '/reset') {
                session.reset();
                note('falcon-mamba: conversation reset');
              } else if (cmd === '/save') {
                if (!arg) throw new InputError('/save needs a file name');
                const file = await openOutput(arg, 'saved chat');
                const bytes = session.save();
                await file.write(bytes);
                note(`falcon-mamba: saved ${session.messages.length} messages, ${bytes.length} bytes to ${arg}`);
              } else if (cmd === '/load') {
                if (!arg) throw new InputError('/load needs a file name');
                // A regular file no larger than a state of this model with the largest metadata: /dev/zero or a
                // huge file is refused before anything is read.
                const bytes = (await readFileBytes(arg, InputError, { maxBytes: maxStateFileBytes(model.config), what: 'saved chat' }))!;
                session.restore(bytes);
                note(`falcon-mamba: loaded ${session.messages.length} messages from ${arg}`);
              } else if (cmd === '/help') note(REPL_HELP);
              else note(`falcon-mamba: unknown command ${cmd} (${REPL_HELP})`);
            } catch (e) {
              // A command that fails says why in one line; the conversation goes on.
              const line = e instanceof FalconMambaError ? e.message : systemErrorLine(e);
              if (line === undefined) throw e;
              note(`falcon-mamba: ${line}`);
            }
            if (tty) rl.prompt();
            continue;
          }
          turn = new AbortController();
          const gen = session.send(line, { signal: turn.signal });
          for await (const e of gen) {
            if (e.text) out.write(e.text);
            await tick();
          }
          out.write('\n');
          turn = null;
          const s = gen.summary!;
          const t = session.lastTurn!;
          const how =
            t.mode === 'incremental' ? `fed ${t.fedTokens} new tok, kept ${t.reusedTokens}`
            : t.mode === 'cached' ? `fed ${t.fedTokens} tok after the cached system prompt (${t.reusedTokens} tok)${t.reprefilled ? ', re-prefilled' : ''}`
            : `${t.reprefilled ? 're-prefilled' : 'prefilled'} ${t.fedTokens} tok`;
          note(`[prompt ${s.promptTokens} tok ${rate(s.promptTokens, s.prefillMs)} · decode ${s.tokens.length} tok ${rate(s.steps, s.decodeMs)} · ${how} · finish ${s.finishReason} · RSS ${rssMB()}]`);
          if (tty) rl.prompt();
        }
      } finally {
        process.removeListener('SIGINT', onInterrupt);
        rl.close();
      }
      // How the session ended (a failed /load earlier is reported where it happened, not here).
      return interrupted ? EXIT_INTERRUPTED : 0;
    } finally {
      await model.dispose();
    }
  },
};
