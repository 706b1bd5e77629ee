/**
 * `createServer(model, tokenizer, options)`: the OpenAI-compatible HTTP app (Hono), its scheduler and state
 * cache, and `listen()`, which runs it with @hono/node-server on Node and `Deno.serve` on Deno.
 *
 * Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models(/:id), POST /tokenize,
 * POST /detokenize, GET /health, GET /metrics. Every error answers the OpenAI shape
 * `{ "error": { "message", "type", "param", "code" } }`; an unexpected exception is a 500 for that request
 * only. See docs/server.md.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { FalconMambaError } from '../errors.ts';
import { samplerDefaults, type GenerationConfig } from '../generate/config.ts';
import type { Model } from '../model.ts';
import { Tokenizer } from '../tokenizer/tokenizer.ts';
import { StateCache } from './cache.ts';
import { ApiError, badField } from './errors.ts';
import { Metrics } from './metrics.ts';
import { chatCompletions, completions, type HandlerContext } from './openai.ts';
import { ChatEncoder, endOfTurnIds, requireObject, type RequestDefaults, type ServerTokenizer } from './protocol.ts';
import { Scheduler } from './scheduler.ts';

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** The id clients name in `model` and GET /v1/models lists (default `falcon-mamba`). */
  modelId?: string;
  /** When set, every route but /health needs `Authorization: Bearer <apiKey>` (else 401). */
  apiKey?: string;
  /** The model's generation_config.json (loadGenerationConfig): sampling defaults and eos ids. */
  generation?: GenerationConfig;
  /** Requests that may wait for the model beyond the running ones (default 64); more get 429. */
  maxQueue?: number;
  /** Requests generating at once, their sequences decoded together (default 8). */
  parallel?: number;
  /**
   * Sequences advanced by one batched decode call (`Model.stepBatch`, one pass over the weights; default 8);
   * more run in groups of this many, 1 steps them one at a time.
   */
  maxBatch?: number;
  /** While streams are generating, prompt work between two decode steps is held to about this many ms (default 50). */
  prefillSliceMs?: number;
  /** Largest request body in bytes (default 4 MiB); larger gets 413. */
  maxBodyBytes?: number;
  /** Longest prompt in tokens (default 32768); longer gets 400. */
  maxPromptTokens?: number;
  /** Largest `max_tokens` (default 4096). */
  maxTokens?: number;
  /** `max_tokens` of a chat request that leaves it out (default generation_config's max_new_tokens, else 512). */
  chatMaxTokens?: number;
  /** Largest `n` (default 8). */
  maxChoices?: number;
  /** State-cache memory budget in bytes (default 1 GiB; 0 = no cache). */
  cacheBytes?: number;
  /** A directory for the cache's disk tier, which survives a restart. */
  cacheDir?: string;
  /** The disk tier's budget in bytes (default 4 × cacheBytes, at least 1 GiB). */
  cacheDirBytes?: number;
  /** Snapshot every N prompt tokens of long prompts (default 512). */
  cacheEvery?: number;
  /** What the cached states belong to (default: the model's id and shape); states of another namespace on disk are ignored. */
  cacheNamespace?: string;
  /** Tokens per prefill call while nothing is generating (default 512). */
  prefillChunk?: number;
  /** Chat for a model without a template in the plain "User: …" format instead of 400 (default true). */
  chatFallback?: boolean;
}

/** Where a server listens. */
export interface ListenOptions {
  /** Default 127.0.0.1. */
  hostname?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
}

/** A listening server. */
export interface Listening {
  /** `http://host:port`. */
  url: string;
  /** The address bound. */
  hostname: string;
  /** The port bound (the one picked when 0 was asked). */
  port: number;
}

/** What {@link createServer} returns. */
export interface FalconMambaServer {
  /** The Hono app (mount it, or call `fetch`). */
  readonly app: Hono;
  /** The app's fetch handler: a standard Request in, a Response out. */
  fetch(request: Request): Promise<Response>;
  /** @internal The scheduler that owns the model. */
  readonly scheduler: Scheduler;
  /** @internal The state cache (null when disabled). */
  readonly cache: StateCache | null;
  /** Starts listening (Node: @hono/node-server; Deno: Deno.serve). */
  listen(options?: ListenOptions): Promise<Listening>;
  /**
   * Stops: new requests get 503, requests in flight may finish for `graceMs` (default 5000; 0 aborts them at
   * once), then the listener closes. The model is not disposed (the caller owns it).
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

function asServerTokenizer(t: ServerTokenizer | Tokenizer): ServerTokenizer {
  return t instanceof Tokenizer ? { tokenizer: t } : t;
}

/**
 * Builds the server over a loaded model and its tokenizer files.
 * @param tokenizer `await loadTokenizerFiles(dir)` (template, special tokens), or a bare Tokenizer
 */
export function createServer(model: Model, tokenizer: ServerTokenizer | Tokenizer, options: ServerOptions = {}): FalconMambaServer {
  const tk = asServerTokenizer(tokenizer);
  const modelId = options.modelId ?? 'falcon-mamba';
  const g = options.generation;
  const eos = new Set<number>(g?.eosTokenIds ?? model.config.eosTokenId);
  if (tk.eosTokenId !== undefined) eos.add(tk.eosTokenId);
  const defaults: RequestDefaults = {
    sampler: g ? samplerDefaults(g) : { temperature: 0 },
    eosTokenIds: [...eos],
    chatEosTokenIds: endOfTurnIds(tk),
    chatMaxTokens: options.chatMaxTokens ?? g?.maxNewTokens ?? 512,
    maxTokensLimit: options.maxTokens ?? 4096,
    maxPromptTokens: options.maxPromptTokens ?? 32768,
    maxChoices: options.maxChoices ?? 8,
    vocabSize: model.config.vocabSize,
    chatFallback: options.chatFallback ?? true,
  };
  const cacheBytes = options.cacheBytes ?? 1 << 30;
  const c = model.config;
  const cache = cacheBytes > 0 || options.cacheDir
    ? new StateCache(model, {
      maxBytes: cacheBytes,
      dir: options.cacheDir,
      maxDirBytes: options.cacheDirBytes,
      namespace: options.cacheNamespace ?? `${modelId}:${c.modelType}:${c.nLayer}x${c.dModel}:${c.vocabSize}`,
    })
    : null;
  const shutdown = new AbortController();
  const scheduler = new Scheduler(model, tk.tokenizer, {
    maxQueue: options.maxQueue,
    parallel: options.parallel,
    maxBatch: options.maxBatch,
    prefillChunk: options.prefillChunk,
    prefillSliceMs: options.prefillSliceMs,
    cacheEvery: options.cacheEvery,
    cache,
    signal: shutdown.signal,
  });
  let closing = false;
  const chat = new ChatEncoder(tk, defaults.chatFallback);
  const h: HandlerContext = { scheduler, tokenizer: tk, chat, defaults, modelId, shutdown: shutdown.signal };
  const metrics = new Metrics();
  const created = Math.floor(Date.now() / 1000);

  const app = new Hono();
  app.onError((e, ctx) => errorResponse(e, ctx));
  app.notFound((ctx) => errorResponse(new ApiError(404, `no route ${ctx.req.method} ${ctx.req.path}`, null, 'invalid_request_error', 'not_found'), ctx));
  app.use('*', async (ctx, next) => {
    const t0 = performance.now();
    await next();
    metrics.request(routeName(ctx.req.path), ctx.res.status, (performance.now() - t0) / 1000);
  });
  app.use('*', async (ctx, next) => {
    if (closing && ctx.req.path !== '/health') throw new ApiError(503, 'the server is shutting down');
    if (options.apiKey !== undefined && ctx.req.path !== '/health') {
      const auth = ctx.req.header('authorization') ?? '';
      if (auth !== `Bearer ${options.apiKey}`) throw new ApiError(401, auth ? 'invalid API key' : 'missing API key: send Authorization: Bearer <key>', null, 'authentication_error', 'invalid_api_key');
    }
    await next();
  });
  const maxBody = options.maxBodyBytes ?? 4 << 20;
  app.use('*', bodyLimit({ maxSize: maxBody, onError: () => { throw new ApiError(413, `the request body is larger than ${maxBody} bytes`, null, 'invalid_request_error', 'request_too_large'); } }));

  app.get('/health', (ctx) => (closing ? ctx.json({ status: 'shutting down' }, 503) : ctx.json({ status: 'ok' })));
  app.get('/v1/models', (ctx) => ctx.json({ object: 'list', data: [{ id: modelId, object: 'model', created, owned_by: 'falcon-mamba' }] }));
  app.get('/v1/models/:id', (ctx) => {
    if (ctx.req.param('id') !== modelId) throw new ApiError(404, `the model '${ctx.req.param('id')}' does not exist`, 'model', 'invalid_request_error', 'model_not_found');
    return ctx.json({ id: modelId, object: 'model', created, owned_by: 'falcon-mamba' });
  });
  app.post('/v1/chat/completions', async (ctx) => chatCompletions(h, await readJson(ctx), ctx.req.raw.signal));
  app.post('/v1/completions', async (ctx) => completions(h, await readJson(ctx), ctx.req.raw.signal));
  app.post('/tokenize', async (ctx) => {
    const b = requireObject(await readJson(ctx));
    let ids: number[];
    if (b.messages !== undefined) {
      if (!Array.isArray(b.messages)) throw badField('messages', "'messages' must be an array");
      try {
        ids = chat.encode(b.messages as never).ids;
      } catch (e) {
        throw badField('messages', `the chat template cannot render these messages: ${(e as Error).message}`);
      }
    } else {
      const text = b.content ?? b.prompt;
      if (typeof text !== 'string') throw badField('content', "'content' (or 'prompt') must be a string");
      ids = tk.tokenizer.encode(text, { addSpecialTokens: b.add_special === true });
    }
    return ctx.json({ tokens: ids, count: ids.length, max_model_len: defaults.maxPromptTokens });
  });
  app.post('/detokenize', async (ctx) => {
    const b = requireObject(await readJson(ctx));
    const t = b.tokens;
    if (!Array.isArray(t) || t.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= tk.tokenizer.vocabSize)) {
      throw badField('tokens', `'tokens' must be an array of token ids in [0, ${tk.tokenizer.vocabSize})`);
    }
    const content = tk.tokenizer.decode(t as number[]);
    return ctx.json({ content, prompt: content });
  });
  app.get('/metrics', (ctx) => ctx.body(metrics.render(scheduler, cache), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));

  const closers: Array<() => Promise<void>> = [];
  let closed: Promise<void> | undefined;
  const fetch = async (request: Request): Promise<Response> => app.fetch(request);
  return {
    app,
    fetch,
    scheduler,
    cache,
    async listen(o: ListenOptions = {}) {
      const { listen } = await import('./listen.ts');
      const l = await listen(fetch, o.hostname ?? '127.0.0.1', o.port ?? 8080);
      closers.push(l.close);
      return { url: l.url, hostname: l.hostname, port: l.port };
    },
    close(o = {}) {
      const grace = o.graceMs ?? 5000;
      if (grace === 0) shutdown.abort(); // also ends the grace period of an earlier close
      closed ??= (async () => {
        closing = true;
        const idle = scheduler.close();
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([idle, new Promise<void>((r) => (timer = setTimeout(r, grace))), abortedPromise(shutdown.signal)]);
        clearTimeout(timer);
        shutdown.abort();
        await idle;
        await cache?.flush();
        for (const close of closers.splice(0)) await close();
      })();
      return closed;
    },
  };
}

function abortedPromise(signal: AbortSignal): Promise<void> {
  return new Promise((r) => (signal.aborted ? r() : signal.addEventListener('abort', () => r(), { once: true })));
}

/** The route's name for metrics (fixed set, so a client cannot grow the label space). */
function routeName(path: string): string {
  const known = ['/v1/chat/completions', '/v1/completions', '/v1/models', '/tokenize', '/detokenize', '/health', '/metrics'];
  if (known.includes(path)) return path;
  return path.startsWith('/v1/models/') ? '/v1/models/:id' : 'other';
}

async function readJson(ctx: Context): Promise<unknown> {
  const text = await ctx.req.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the request body is not valid JSON: ${(e as Error).message}`);
  }
}

function errorResponse(e: unknown, ctx: Context): Response {
  let err: ApiError;
  if (e instanceof ApiError) err = e;
  else if (e instanceof FalconMambaError) err = new ApiError(400, e.message);
  else err = new ApiError(500, `internal error: ${(e as Error)?.message ?? String(e)}`);
  const headers: Record<string, string> = {};
  if (err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
  if (err.status === 401) headers['www-authenticate'] = 'Bearer';
  return ctx.json(err.body(), err.status as 400, headers);
}
