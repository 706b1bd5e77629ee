/**
 * llama.cpp's side of the side-by-side bench (`npm run bench -- --llama-cpp DIR`): finds `llama-bench` in a
 * llama.cpp build, converts the bench's synthetic checkpoints to GGUF once (bf16 with
 * ../shared/tools/hf_to_gguf.py, then Q8_0 / Q4_0 with the build's `llama-quantize`), and runs `llama-bench` on
 * them with the same thread count, prefill length and decode length as the project's row beside it.
 *
 * DIR is a llama.cpp build: `DIR/build/bin/llama-bench`, `DIR/bin/llama-bench` or `DIR/llama-bench`; the
 * converter needs llama.cpp's `gguf-py` (`DIR/src/gguf-py` or `DIR/gguf-py`) and numpy. The GGUF files are
 * written beside the checkpoint folder: `<folder>-bf16.gguf`, `<folder>-Q8_0.gguf`, `<folder>-Q4_0.gguf`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineBusy } from './cpu.ts';

const here = dirname(fileURLToPath(import.meta.url));

/** Where one llama.cpp build keeps what the bench needs. */
export interface LlamaCpp {
  bench: string;
  quantize: string;
  /** llama.cpp's source root holding gguf-py/ (for the converter), or null when absent. */
  src: string | null;
}

/** Finds the binaries in DIR, or throws a one-line error naming what is missing. */
export function findLlamaCpp(dir: string): LlamaCpp {
  const d = resolve(dir);
  const binDir = [join(d, 'build', 'bin'), join(d, 'bin'), d].find((p) => existsSync(join(p, 'llama-bench')));
  if (!binDir) throw new Error(`bench: --llama-cpp ${dir}: no llama-bench in ${d}/build/bin, ${d}/bin or ${d} (build llama.cpp first: ../shared/tools/llama-cpp.sh)`);
  const quantize = join(binDir, 'llama-quantize');
  const src = [join(d, 'src'), d, resolve(binDir, '..', '..')].find((p) => existsSync(join(p, 'gguf-py', 'gguf'))) ?? null;
  return { bench: join(binDir, 'llama-bench'), quantize, src };
}

/** llama.cpp's name for each of the bench's precisions. */
export const GGUF_TYPE = { bf16: 'bf16', q8: 'Q8_0', q4: 'Q4_0' } as const;

const fresh = (file: string, than: string) => existsSync(file) && statSync(file).size > 0 && statSync(file).mtimeMs >= statSync(than).mtimeMs;

/**
 * The GGUF of the checkpoint folder `hf` at `dtype`, converted (and quantized) first if absent or older than the
 * checkpoint's config.json. Written to a temporary name and renamed, so an interrupted conversion leaves nothing.
 */
export function ensureGguf(llama: LlamaCpp, hf: string, dtype: keyof typeof GGUF_TYPE): string {
  const bf16 = `${hf}-bf16.gguf`;
  const config = join(hf, 'config.json');
  if (!fresh(bf16, config)) {
    const converter = resolve(here, '../../shared/tools/hf_to_gguf.py');
    if (!existsSync(converter)) throw new Error(`bench: converting ${hf} to GGUF needs ${converter} (the shared tools)`);
    if (!llama.src) throw new Error(`bench: converting ${hf} to GGUF needs llama.cpp's gguf-py beside the build (DIR/src/gguf-py)`);
    process.stderr.write(`bench: converting ${hf} to ${bf16} …\n`);
    const r = spawnSync('python3', [converter, hf, bf16 + '.partial', llama.src], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`bench: GGUF conversion of ${hf} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    renameSync(bf16 + '.partial', bf16);
  }
  if (dtype === 'bf16') return bf16;
  const out = `${hf}-${GGUF_TYPE[dtype]}.gguf`;
  if (!fresh(out, bf16)) {
    process.stderr.write(`bench: quantizing ${bf16} to ${GGUF_TYPE[dtype]} …\n`);
    const r = spawnSync(llama.quantize, [bf16, out + '.partial', GGUF_TYPE[dtype]], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`bench: llama-quantize ${GGUF_TYPE[dtype]} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    renameSync(out + '.partial', out);
  }
  return out;
}

/** What one llama-bench run gives the table: tokens/s, best over its repetitions (as the project's rows). */
export interface LlamaRow {
  decode: number;
  decodeMean: number;
  prefill: number;
  prefillMean: number;
  decodeTokens: number;
  prefillTokens: number;
  /** Cores' worth of CPU other processes took while it ran (/proc/stat minus llama-bench's own), or null. */
  otherLoad: number | null;
  /** llama-bench's description of the CPU and the model ("mamba ?B Q8_0"). */
  cpuInfo: string;
  modelType: string;
}

/** CPU seconds of this process's waited-for children (/proc/self/stat cutime + cstime), or null off Linux. */
function childrenBusy(): number | null {
  try {
    const s = readFileSync('/proc/self/stat', 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / 100; // fields 16, 17 of proc(5), USER_HZ
  } catch {
    return null;
  }
}

/** `llama-bench -m gguf -t threads -p prefill -n decode -r reps -o json`, parsed. */
export function runLlamaBench(llama: LlamaCpp, gguf: string, threads: number, prefill: number, decode: number, reps: number): LlamaRow {
  const busy0 = machineBusy(), kids0 = childrenBusy(), t0 = performance.now();
  const r = spawnSync(llama.bench, ['-m', gguf, '-t', String(threads), '-p', String(prefill), '-n', String(decode), '-r', String(reps), '-o', 'json'], {
    encoding: 'utf8',
    maxBuffer: 16 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const busy1 = machineBusy(), kids1 = childrenBusy(), wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) {
    const why = (r.stderr || '').split('\n').find((l) => /error|failed|unable/i.test(l)) ?? r.error?.message ?? `exit status ${r.status}`;
    throw new Error(`llama-bench on ${gguf}: ${why.trim()}`);
  }
  type Test = { n_prompt: number; n_gen: number; avg_ts: number; samples_ts: number[]; cpu_info: string; model_type: string };
  const tests = JSON.parse(r.stdout) as Test[];
  const pp = tests.find((t) => t.n_prompt > 0 && t.n_gen === 0);
  const tg = tests.find((t) => t.n_gen > 0 && t.n_prompt === 0);
  if (!pp || !tg) throw new Error(`llama-bench on ${gguf}: no prompt or generation result in its JSON`);
  const otherLoad = busy0 === null || busy1 === null || kids0 === null || kids1 === null ? null : Math.max(0, (busy1 - busy0 - (kids1 - kids0)) / wall);
  return {
    decode: Math.max(...tg.samples_ts),
    decodeMean: tg.avg_ts,
    prefill: Math.max(...pp.samples_ts),
    prefillMean: pp.avg_ts,
    decodeTokens: tg.n_gen,
    prefillTokens: pp.n_prompt,
    otherLoad,
    cpuInfo: tg.cpu_info,
    modelType: tg.model_type,
  };
}
