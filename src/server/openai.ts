/**
 * The OpenAI endpoints' responses: POST /v1/chat/completions and POST /v1/completions, whole or streamed as
 * server-sent events (`data: {chunk}` lines, then `data: [DONE]`), with the OpenAI field names
 * (platform.openai.com/docs/api-reference/chat/object, …/chat-streaming, …/completions/object).
 */
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { ApiError } from './errors.ts';
import { parseChat, parseCompletion, type ChatEncoder, type RequestDefaults, type ServerTokenizer } from './protocol.ts';
import type { JobResult, JobSpec, Scheduler } from './scheduler.ts';
import type { Sequence, TokenLogprob, TokenOut } from './sequence.ts';

/** What the handlers share: the scheduler, the tokenizer, the defaults and the served model's id. */
export interface HandlerContext {
  scheduler: Scheduler;
  tokenizer: ServerTokenizer;
  /** Encodes chats, remembering the message prefixes it has seen. */
  chat: ChatEncoder;
  defaults: RequestDefaults;
  modelId: string;
  /** Aborted when the server shuts down and stops waiting for requests in flight. */
  shutdown: AbortSignal;
}

function randomId(prefix: string): string {
  const a = new Uint8Array(12);
  globalThis.crypto.getRandomValues(a);
  return prefix + Array.from(a, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** The text of one token for log-probs (its bytes as UTF-8, lossy for a partial character). */
export function tokenText(t: Tokenizer, id: number): string {
  try {
    if (t.specialIds.has(id)) return t.decode([id]);
    const bytes = t.tokenBytes(id, false);
    return bytes === null ? t.decode([id]) : new TextDecoder().decode(bytes);
  } catch {
    return `<id ${id}>`;
  }
}

function tokenBytes(t: Tokenizer, id: number): number[] {
  try {
    const b = t.tokenBytes(id, false);
    return Array.from(b ?? new TextEncoder().encode(t.decode([id])));
  } catch {
    return [];
  }
}

/** finish_reason; an aborted choice only reaches a client when the server shut down under it. */
function finishReason(s: Sequence): 'stop' | 'length' | null {
  return s.finish === 'stop' ? 'stop' : s.finish === 'length' ? 'length' : null;
}

function usage(r: JobResult[], completion: number) {
  const prompt = r.reduce((a, x) => a + x.promptTokens, 0);
  const cached = r.reduce((a, x) => a + x.cachedTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
}

/**
 * Links the request's signal (client gone) and the shutdown signal into one controller; `release` removes the
 * listeners once the request is over (the shutdown signal lives as long as the server).
 */
function linkAbort(...signals: Array<AbortSignal | undefined>): AbortController & { release(): void } {
  const ctl = new AbortController() as AbortController & { release(): void };
  const onAbort = () => ctl.abort();
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  for (const s of live) {
    if (s.aborted) ctl.abort();
    else s.addEventListener('abort', onAbort, { once: true });
  }
  ctl.release = () => {
    for (const s of live) s.removeEventListener('abort', onAbort);
  };
  return ctl;
}

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };

/** An SSE stream: `send` writes one `data:` event; cancel (client gone) calls `onCancel`. */
function sseStream(onCancel: () => void): { stream: ReadableStream<Uint8Array>; send: (data: unknown) => void; end: () => void } {
  const enc = new TextEncoder();
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  let open = true;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      ctl = c;
    },
    cancel() {
      open = false;
      onCancel();
    },
  });
  const write = (s: string) => {
    if (!open) return;
    try {
      ctl.enqueue(enc.encode(s));
    } catch {
      open = false;
      onCancel();
    }
  };
  return {
    stream,
    send: (data) => write(`data: ${JSON.stringify(data)}\n\n`),
    end: () => {
      write('data: [DONE]\n\n');
      if (open) ctl.close();
      open = false;
    },
  };
}

/** The error event sent inside a stream once its headers are out (the openai client raises it). */
function streamError(e: unknown, shutdown: AbortSignal): { error: ReturnType<ApiError['body']>['error'] } {
  const err = e instanceof ApiError ? e : shutdown.aborted ? new ApiError(503, 'the server shut down during this request') : new ApiError(500, `internal error: ${(e as Error)?.message ?? e}`);
  return err.body();
}

function chatLogprobs(t: Tokenizer, lps: readonly TokenLogprob[]) {
  return {
    content: lps.map((lp) => ({
      token: tokenText(t, lp.id),
      logprob: lp.logprob,
      bytes: tokenBytes(t, lp.id),
      top_logprobs: lp.top.map(([id, l]) => ({ token: tokenText(t, id), logprob: l, bytes: tokenBytes(t, id) })),
    })),
    refusal: null,
  };
}

/** POST /v1/chat/completions. */
export async function chatCompletions(h: HandlerContext, body: unknown, requestSignal: AbortSignal | undefined): Promise<Response> {
  const tok = h.tokenizer.tokenizer;
  const req = parseChat(body, h.chat, h.defaults, [h.modelId]);
  const ctl = linkAbort(requestSignal, h.shutdown);
  const id = randomId('chatcmpl-');
  const created = Math.floor(Date.now() / 1000);
  const base = { id, created, model: h.modelId, system_fingerprint: null };
  const job: JobSpec = {
    promptIds: req.promptIds,
    boundaries: req.boundaries,
    n: req.n,
    sequence: req.spec,
    signal: ctl.signal,
    after: (s) => req.after(s.text),
  };
  if (!req.stream) {
    const r = await h.scheduler.submit(job).finally(ctl.release);
    if (h.shutdown.aborted && r.choices.some((s) => s.finish === 'abort')) throw new ApiError(503, 'the server shut down during this request');
    const completion = r.choices.reduce((a, s) => a + s.tokens.length, 0);
    return Response.json({
      ...base,
      object: 'chat.completion',
      choices: r.choices.map((s) => ({
        index: s.index,
        message: { role: 'assistant', content: s.text, refusal: null },
        logprobs: req.logprobs ? chatLogprobs(tok, s.logprobs) : null,
        finish_reason: finishReason(s),
      })),
      usage: usage([r], completion),
    });
  }
  const sse = sseStream(() => ctl.abort());
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    sse.send({ ...base, object: 'chat.completion.chunk', choices, ...(req.includeUsage ? { usage: null } : {}), ...extra });
  job.onToken = (i: number, out: TokenOut) => {
    if (out.text === '' && !out.logprob) return;
    chunk([{ index: i, delta: { content: out.text }, logprobs: out.logprob ? chatLogprobs(tok, [out.logprob]) : null, finish_reason: null }]);
  };
  let done: Promise<JobResult>;
  try {
    done = h.scheduler.submit(job); // a full queue throws here, before any byte is sent
  } catch (e) {
    ctl.release();
    throw e;
  }
  done.finally(ctl.release).catch(() => {});
  for (let i = 0; i < req.n; i++) chunk([{ index: i, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
  done.then(
    (r) => {
      if (h.shutdown.aborted && r.choices.some((s) => s.finish === 'abort')) sse.send(streamError(null, h.shutdown));
      else {
        for (const s of r.choices) chunk([{ index: s.index, delta: {}, logprobs: null, finish_reason: finishReason(s) }]);
        if (req.includeUsage) sse.send({ ...base, object: 'chat.completion.chunk', choices: [], usage: usage([r], r.choices.reduce((a, s) => a + s.tokens.length, 0)) });
      }
      sse.end();
    },
    (e) => {
      sse.send(streamError(e, h.shutdown));
      sse.end();
    },
  );
  return new Response(sse.stream, { headers: SSE_HEADERS });
}

interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}

function completionLogprobs(t: Tokenizer, lps: ReadonlyArray<TokenLogprob | null>, ids: readonly number[], startOffset: number): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let offset = startOffset;
  ids.forEach((id, i) => {
    const text = tokenText(t, id);
    const lp = lps[i];
    out.tokens.push(text);
    out.token_logprobs.push(lp ? lp.logprob : null);
    out.top_logprobs.push(lp ? Object.fromEntries(lp.top.map(([tid, l]) => [tokenText(t, tid), l])) : null);
    out.text_offset.push(offset);
    offset += text.length;
  });
  return out;
}

/** POST /v1/completions. */
export async function completions(h: HandlerContext, body: unknown, requestSignal: AbortSignal | undefined): Promise<Response> {
  const tok = h.tokenizer.tokenizer;
  const req = parseCompletion(body, h.tokenizer, h.defaults, [h.modelId]);
  const ctl = linkAbort(requestSignal, h.shutdown);
  const id = randomId('cmpl-');
  const created = Math.floor(Date.now() / 1000);
  const base = { id, object: 'text_completion', created, model: h.modelId, system_fingerprint: null };
  const promptTexts = req.prompts.map((p) => (req.echo ? tok.decode(p) : ''));
  const scoring = req.echo && req.logprobs !== null;
  const jobs = (onToken?: (p: number) => JobSpec['onToken']) => {
    const promises: Array<Promise<JobResult>> = [];
    try {
      req.prompts.forEach((ids, p) => {
        promises.push(h.scheduler.submit({ promptIds: ids, n: req.n, sequence: req.spec, signal: ctl.signal, promptLogprobs: scoring ? req.logprobs : null, onToken: onToken?.(p) }));
      });
    } catch (e) {
      ctl.abort(); // the queue filled up part-way: end the ones already queued
      for (const x of promises) x.catch(() => {});
      throw e;
    }
    return Promise.all(promises);
  };
  if (!req.stream) {
    const results = await jobs().finally(ctl.release);
    if (h.shutdown.aborted && results.some((r) => r.choices.some((s) => s.finish === 'abort'))) throw new ApiError(503, 'the server shut down during this request');
    const choices = results.flatMap((r, p) =>
      r.choices.map((s) => {
        let logprobs: CompletionLogprobs | null = null;
        if (req.logprobs !== null) {
          const promptPart = scoring ? completionLogprobs(tok, r.promptLogprobs ?? [], req.prompts[p], 0) : null;
          const gen = completionLogprobs(tok, s.logprobs, s.tokens, promptTexts[p].length);
          logprobs = promptPart
            ? { tokens: [...promptPart.tokens, ...gen.tokens], token_logprobs: [...promptPart.token_logprobs, ...gen.token_logprobs], top_logprobs: [...promptPart.top_logprobs, ...gen.top_logprobs], text_offset: [...promptPart.text_offset, ...gen.text_offset] }
            : gen;
        }
        return { index: p * req.n + s.index, text: promptTexts[p] + s.text, logprobs, finish_reason: finishReason(s) };
      }),
    );
    const completion = results.reduce((a, r) => a + r.choices.reduce((b, s) => b + s.tokens.length, 0), 0);
    return Response.json({ ...base, choices, usage: usage(results, completion) });
  }
  const sse = sseStream(() => ctl.abort());
  const offsets = new Map<number, number>();
  const chunk = (choices: unknown[]) => sse.send({ ...base, choices, ...(req.includeUsage ? { usage: null } : {}) });
  let done: Promise<JobResult[]>;
  try {
    done = jobs((p) => (i, out) => {
    const index = p * req.n + i;
    if (out.text === '' && !out.logprob) return;
    const at = offsets.get(index) ?? promptTexts[p].length;
    const lp = out.logprob ? completionLogprobs(tok, [out.logprob], [out.token], at) : null;
    offsets.set(index, at + (lp ? lp.tokens[0].length : 0));
    chunk([{ index, text: out.text, logprobs: lp, finish_reason: null }]);
    });
  } catch (e) {
    ctl.release();
    throw e;
  }
  done.finally(ctl.release).catch(() => {});
  if (req.echo) req.prompts.forEach((_, p) => { for (let i = 0; i < req.n; i++) chunk([{ index: p * req.n + i, text: promptTexts[p], logprobs: null, finish_reason: null }]); });
  done.then(
    (results) => {
      if (h.shutdown.aborted && results.some((r) => r.choices.some((s) => s.finish === 'abort'))) sse.send(streamError(null, h.shutdown));
      else {
        results.forEach((r, p) => r.choices.forEach((s) => chunk([{ index: p * req.n + s.index, text: '', logprobs: null, finish_reason: finishReason(s) }])));
        if (req.includeUsage) {
          const completion = results.reduce((a, r) => a + r.choices.reduce((b, s) => b + s.tokens.length, 0), 0);
          sse.send({ ...base, choices: [], usage: usage(results, completion) });
        }
      }
      sse.end();
    },
    (e) => {
      sse.send(streamError(e, h.shutdown));
      sse.end();
    },
  );
  return new Response(sse.stream, { headers: SSE_HEADERS });
}
