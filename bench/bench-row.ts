/**
 * One row of `npm run bench`, in its own process (so each configuration gets a fresh heap, its own peak RSS and
 * no memory left over from the previous one): loads the checkpoint in `--dir` with
 * `loadModel(dir, { backend, dtype, threads })`, warms V8's wasm tiers, times `--rounds` decode rounds of
 * `--decode` tokens (best and median) and a prefill of `--prefill` tokens (best of `--prefill-reps`), and prints
 * one JSON line ({@link Row}), with how busy the rest of the machine was meanwhile. A failure (e.g. a model too large to load) prints `{ "error": … }` and exits 1.
 *
 * Options: `--dir D`, `--backend wasm|reference` (default wasm), `--dtype bf16|q8|q4|auto`, `--threads N`,
 * `--decode N` (48), `--rounds N` (4), `--prefill N` (256), `--prefill-reps N` (2), `--warm-decode N` (4),
 * `--warm-prefill N` (64; 0: none).
 */
import { loadModel, type Model, type WeightDType } from '../src/index.ts';
import type { WasmModel } from '../src/wasm/model.ts';
import { machineBusy, ownBusy } from './cpu.ts';

/** What one row prints: rates in tokens/s, bytes, seconds. */
export interface Row {
  backend: string;
  dtype: string;
  threads: number;
  /** Best and median decode rate over the rounds, and every round. */
  decode: number;
  decodeMedian: number;
  decodeRounds: number[];
  decodeTokens: number;
  prefill: number;
  prefillTokens: number;
  /** Peak resident set of this process (`process.resourceUsage().maxRSS`), bytes. */
  peakRss: number;
  loadSeconds: number;
  /** Weight bytes one decoded token streams (wasm only, else null). */
  bytesPerToken: number | null;
  /** Bytes of wasm memory (wasm only, else null). */
  memoryBytes: number | null;
  finite: boolean;
  /**
   * Cores' worth of CPU time other processes used while decode and prefill were timed (Linux /proc/stat busy
   * time minus this process's own), or null where /proc/stat is absent. The machine is shared: this says how
   * much a row was disturbed.
   */
  otherLoad: number | null;
  notices: string[];
  config: { dModel: number; nLayer: number; dInner: number; dState: number; dtRank: number; vocabSize: number };
}

const args = process.argv.slice(2);
const str = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const num = (name: string, dflt: number) => Number(str(name, String(dflt)));

function ids(n: number, V: number, seed = 1): number[] {
  let s = seed;
  return Array.from({ length: n }, () => (s = (s * 1103515245 + 12345) % 2147483648) % V);
}

async function decodeRate(m: Model, n: number, warm: number): Promise<number> {
  const V = m.config.vocabSize;
  const s = m.createState();
  await m.prefill(s, ids(4, V, 7));
  for (let i = 0; i < warm; i++) await m.step(s, i + 1);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await m.step(s, (i * 31) % V);
  return n / ((performance.now() - t0) / 1000);
}

/** Tokens/s of a prefill of `n` tokens from a fresh state, best of `reps`. */
async function prefillRate(m: Model, n: number, reps: number): Promise<number> {
  const p = ids(n, m.config.vocabSize, 3);
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await m.prefill(m.createState(), p);
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return n / best;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

async function main(): Promise<Row> {
  const dir = str('dir', '');
  const backend = str('backend', 'wasm') as 'wasm' | 'reference';
  const dtype = str('dtype', 'auto') as WeightDType;
  const threads = num('threads', 1);
  const DECODE = num('decode', 48);
  const ROUNDS = num('rounds', 4);
  const PREFILL = num('prefill', 256);
  const notices: string[] = [];
  const t0 = performance.now();
  const m = await loadModel(dir, backend === 'wasm' ? { backend, dtype, threads, onNotice: (s) => notices.push(s) } : { backend });
  const loadSeconds = (performance.now() - t0) / 1000;
  const wasm = backend === 'wasm' ? (m as WasmModel) : null;
  // Warm the tiers: V8 compiles wasm lazily and tiers hot functions up.
  await decodeRate(m, num('warm-decode', 4), 1);
  const warmPrefill = num('warm-prefill', 64);
  if (warmPrefill > 0) await prefillRate(m, warmPrefill, 1);
  const busy0 = machineBusy(), own0 = ownBusy(), wall0 = performance.now();
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await decodeRate(m, DECODE, 1));
  const prefill = await prefillRate(m, PREFILL, num('prefill-reps', 2));
  const busy1 = machineBusy();
  const otherLoad = busy0 === null || busy1 === null ? null : Math.max(0, (busy1 - busy0 - (ownBusy() - own0)) / ((performance.now() - wall0) / 1000));
  const finite = Array.from(await m.forward(ids(3, m.config.vocabSize))).every((v) => Number.isFinite(v));
  const { dModel, nLayer, dInner, dState, dtRank, vocabSize } = m.config;
  const row: Row = {
    backend,
    dtype: backend === 'wasm' ? dtype : 'f32',
    threads: backend === 'wasm' ? threads : 1,
    decode: Math.max(...rounds),
    decodeMedian: median(rounds),
    decodeRounds: rounds,
    decodeTokens: DECODE,
    prefill,
    prefillTokens: PREFILL,
    peakRss: 0,
    loadSeconds,
    bytesPerToken: wasm ? wasm.bytesPerToken : null,
    memoryBytes: wasm ? wasm.memoryBytes : null,
    finite,
    otherLoad,
    notices,
    config: { dModel, nLayer, dInner, dState, dtRank, vocabSize },
  };
  await m.dispose();
  row.peakRss = process.resourceUsage().maxRSS * 1024;
  return row;
}

try {
  process.stdout.write(JSON.stringify(await main()) + '\n');
  process.exit(0); // worker threads of a disposed model must not keep the process up
} catch (e) {
  const message = e instanceof Error ? e.message : String(e);
  process.stdout.write(JSON.stringify({ error: message, peakRss: process.resourceUsage().maxRSS * 1024 }) + '\n');
  process.exit(1);
}
