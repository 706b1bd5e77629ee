/**
 * `falcon-mamba serve`: the OpenAI-compatible server (src/server/) over one model folder. Prints the URL once
 * it listens; the first SIGINT/SIGTERM lets requests in flight finish (up to --grace seconds) and exits, a
 * second one aborts them at once.
 */
import { realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import process from 'node:process';
import { createServer } from '../server/app.ts';
import { backendFlag, dtypeFlag, mixerEpsFlag, MODEL_OPTIONS, MODEL_OPTIONS_HELP, modelFlag, note, numberFlag, openModel, parse, rssMB, threadsFlag, type Command } from './common.ts';

const OPTIONS = {
  ...MODEL_OPTIONS,
  host: { type: 'string' },
  port: { type: 'string' },
  'api-key': { type: 'string' },
  'model-id': { type: 'string' },
  'max-queue': { type: 'string' },
  parallel: { type: 'string' },
  'max-batch': { type: 'string' },
  'max-prompt-tokens': { type: 'string' },
  'max-body-mb': { type: 'string' },
  'cache-mb': { type: 'string' },
  'cache-dir': { type: 'string' },
  'cache-dir-mb': { type: 'string' },
  'cache-every': { type: 'string' },
  grace: { type: 'string' },
} as const;

/** The `serve` command. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'an OpenAI-compatible HTTP server that keeps conversation states',
  help: `Usage: falcon-mamba serve --model DIR [options]

Serves POST /v1/chat/completions, /v1/completions, /tokenize, /detokenize and GET /v1/models, /health,
/metrics. Conversation states are cached by token prefix, so a new turn feeds only its new tokens.
See docs/server.md.

  --host HOST            address to bind (default 127.0.0.1)
  --port N               port (default 8080; 0 picks a free one)
  --api-key KEY          require Authorization: Bearer KEY (default: FALCON_MAMBA_API_KEY, else none)
  --model-id NAME        the model's id in the API (default: the folder's name)
  --max-queue N          requests waiting beyond the running ones before 429 (default 64)
  --parallel N           requests generating at once (default 8)
  --max-batch N          sequences decoded together in one pass over the weights (default 8; 1: one at a time)
  --max-prompt-tokens N  longest prompt accepted (default 32768)
  --max-body-mb N        largest request body (default 4)
  --cache-mb N           state-cache memory budget (default 1024; 0 = off)
  --cache-dir DIR        also keep snapshots in DIR (survives a restart)
  --cache-dir-mb N       the directory's budget (default 4 × --cache-mb, at least 1024)
  --cache-every N        snapshot every N tokens of long prompts (default 512)
  --grace S              seconds requests in flight may finish after SIGINT/SIGTERM (default 10)
${MODEL_OPTIONS_HELP}`,

  async run(argv) {
    const { values: v } = parse('serve', argv, OPTIONS);
    if (v.help) {
      process.stdout.write(this.help + '\n');
      return 0;
    }
    const dir = modelFlag('serve', v.model);
    const flags = {
      backend: backendFlag('serve', v.backend),
      dtype: dtypeFlag('serve', v.dtype),
      threads: threadsFlag('serve', v.threads),
      mixerRmsEps: mixerEpsFlag('serve', v['mixer-eps'], dir),
    };
    const int = (name: string, value: string | undefined, min = 0) => numberFlag('serve', name, value, { integer: true, min });
    const port = int('port', v.port) ?? 8080;
    const mb = (x: number | undefined) => (x === undefined ? undefined : x * 1048576);
    const maxBodyMb = numberFlag('serve', 'max-body-mb', v['max-body-mb'], { min: 0, minExclusive: true });
    const cacheMb = numberFlag('serve', 'cache-mb', v['cache-mb'], { min: 0 });
    const cacheDirMb = numberFlag('serve', 'cache-dir-mb', v['cache-dir-mb'], { min: 0, minExclusive: true });
    const graceS = numberFlag('serve', 'grace', v.grace, { min: 0 }) ?? 10;
    const maxBatch = int('max-batch', v['max-batch'], 1);
    const opened = await openModel(dir, flags);
    const { model, files, generation, loadMs } = opened;
    const modelId = v['model-id'] ?? basename(await realpath(dir));
    const server = createServer(model, files, {
      modelId,
      apiKey: v['api-key'] ?? process.env.FALCON_MAMBA_API_KEY,
      generation,
      maxQueue: int('max-queue', v['max-queue']),
      parallel: int('parallel', v.parallel, 1),
      maxBatch,
      maxPromptTokens: int('max-prompt-tokens', v['max-prompt-tokens'], 1),
      maxBodyBytes: mb(maxBodyMb),
      cacheBytes: mb(cacheMb),
      cacheDir: v['cache-dir'],
      cacheDirBytes: mb(cacheDirMb),
      cacheEvery: int('cache-every', v['cache-every']),
      cacheNamespace: await weightsIdentity(dir),
    });
    try {
      const l = await server.listen({ hostname: v.host ?? '127.0.0.1', port });
      note(`falcon-mamba: loaded ${modelId} (${model.backend}) in ${(loadMs / 1000).toFixed(2)} s · RSS ${rssMB()}`);
      process.stdout.write(`listening on ${l.url}\n`);
      let signals = 0;
      await new Promise<void>((resolve) => {
        const onSignal = (name: string) => {
          signals++;
          if (signals === 1) {
            note(`falcon-mamba: ${name}: finishing requests in flight (up to ${graceS} s; again to abort them)`);
            server.close({ graceMs: graceS * 1000 }).then(resolve, resolve);
          } else {
            note(`falcon-mamba: ${name}: aborting requests in flight`);
            server.close({ graceMs: 0 }).then(resolve, resolve);
          }
        };
        process.on('SIGINT', () => onSignal('SIGINT'));
        process.on('SIGTERM', () => onSignal('SIGTERM'));
      });
      note('falcon-mamba: stopped');
      return 0;
    } finally {
      await server.close({ graceMs: 0 });
      await model.dispose();
    }
  },
};

/** The cache's namespace: the folder's real path and its weight files' sizes and times (a new checkpoint is a new namespace). */
async function weightsIdentity(dir: string): Promise<string> {
  const { readdir } = await import('node:fs/promises');
  const root = await realpath(dir);
  const parts = [root];
  for (const name of (await readdir(root)).sort()) {
    if (!name.endsWith('.safetensors') && !name.endsWith('.gguf')) continue;
    const st = await stat(`${root}/${name}`);
    parts.push(`${name}:${st.size}:${Math.round(st.mtimeMs)}`);
  }
  return parts.join('|');
}
