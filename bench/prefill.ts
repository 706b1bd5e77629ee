/**
 * One-thread speed of the prefill tiles (L tokens × a weight matrix) of the engine's kernels, in GMAC/s, for bf16,
 * q8 and q4 on the matrices of the 7B and the small shape; with several builds, each shape runs every build in
 * turn, so their ratios come from one run:
 *
 *   npx tsx bench/prefill.ts [--wasm build/kernels-relaxed.wasm[,other.wasm]] [--suffix ,V2] [--L 64] [--reps 5]
 *                            [--dtypes bf16,q8,q4] [--small] [--7b]
 *
 * `--wasm` takes several builds (e.g. a copy of main's build/kernels-relaxed.wasm beside this one); `--suffix`
 * several export-name suffixes, for a variant exported beside the shipped kernel (`linearBf16` + suffix, …).
 * q8 / q4 times include quantizing the activations (`quantizeActivationQ8`), as the engine does once per input.
 * Random bytes stand in for weights and activations: speed does not depend on the values.
 */
import v8 from 'node:v8';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { WasmHarness } from '../spec/helpers/wasm-harness.ts';
import { bestMs } from './cpu.ts';

const { values } = parseArgs({
  options: {
    wasm: { type: 'string', default: 'build/kernels-relaxed.wasm' },
    suffix: { type: 'string', default: '' },
    L: { type: 'string', default: '64' },
    reps: { type: 'string', default: '5' },
    dtypes: { type: 'string', default: 'bf16,q8,q4' },
    small: { type: 'boolean', default: false },
    '7b': { type: 'boolean', default: false },
  },
});
const files0 = values.wasm.split(',');
const suffixes = values.suffix.split(',');
const cols: [string, string][] = files0.flatMap((f) => suffixes.map((s) => [f, s] as [string, string]));
const files = cols.map(([f, s]) => `${f.split('/').pop()}${s ? ':' + s : ''}`);
const L = Number(values.L);
const reps = Number(values.reps);
const dtypes = values.dtypes.split(',');
const all = !values.small && !values['7b'];
const shapes: [string, number, number][] = [];
if (all || values['7b']) shapes.push(['7B in_proj half', 8192, 4096], ['7B out_proj', 4096, 8192]);
if (all || values.small) shapes.push(['small in_proj half', 2048, 1024], ['small out_proj', 1024, 2048], ['small x_proj', 96, 2048], ['small dt_proj', 2048, 64]);

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const maxW = Math.max(...shapes.map(([, r, c]) => r * c));
const maxIn = Math.max(...shapes.map(([, , c]) => c));
const maxOut = Math.max(...shapes.map(([, r]) => r));
const need = maxW * 2 + maxW + L * maxIn * 6 + L * maxOut * 4 + maxW / 4 + (16 << 20);
const hs0 = await Promise.all(files0.map((f) => WasmHarness.create(readFileSync(f), need)));
const hs = cols.map(([f, s]) => ({ h: hs0[files0.indexOf(f)], s }));

function fill(h: WasmHarness, p: number, bytes: number, seed: number): void {
  const v = new Uint32Array(h.memory.buffer, p, bytes >> 2);
  let s = seed | 1;
  for (let i = 0; i < v.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    v[i] = s;
  }
}

const best = (fn: () => void): number => bestMs(reps, fn);

console.log(`# one thread, L = ${L}, best of ${reps}; GMAC/s = L·rows·cols / time; node ${process.version}`);
console.log(`| matrix | dtype | ${files.map((f) => `${f} GMAC/s`).join(' | ')} |${files.length > 1 ? ' ratio |' : ''}`);
console.log(`|---|---|${files.map(() => '---:|').join('')}${files.length > 1 ? '---:|' : ''}`);
for (const [name, rows, cols] of shapes) {
  const nb = Math.ceil(cols / 32);
  for (const dt of dtypes) {
    const rates: number[] = [];
    for (const { h, s: sfx } of hs) {
      h.reset();
      const k = h.exports;
      const x = h.alloc(L * cols * 4);
      const xv = new Float32Array(h.memory.buffer, x, L * cols);
      for (let i = 0; i < xv.length; i++) xv[i] = Math.sin(i * 0.37);
      const out = h.alloc(L * rows * 4);
      let ms: number;
      if (dt === 'bf16') {
        const W = h.alloc(rows * cols * 2);
        const wv = new Uint16Array(h.memory.buffer, W, rows * cols);
        for (let i = 0; i < wv.length; i++) wv[i] = 0x3c00 + (i % 97);
        ms = best(() => k['linearBf16' + sfx](out, x, W, 0, L, cols, rows));
      } else {
        const bs = dt === 'q8' ? 32 : 16;
        const pr = rows + (rows & 1);
        const wq = h.alloc(pr * nb * bs);
        fill(h, wq, pr * nb * bs, 0x9e3779b9);
        const wd = h.alloc(pr * nb * 4);
        new Float32Array(h.memory.buffer, wd, pr * nb).fill(1e-3);
        const xq = h.alloc(L * nb * 64);
        const xd = h.alloc(L * nb * 4);
        const fn = k[(dt === 'q8' ? 'linearQ8' : 'linearQ4') + sfx];
        ms = best(() => {
          k.quantizeActivationQ8(xq, xd, x, L, cols);
          fn(out, xq, xd, wq, wd, 0, L, cols, rows);
        });
      }
      rates.push((L * rows * cols) / ms / 1e6);
    }
    const ratio = rates.length > 1 ? ` ${(rates[rates.length - 1] / rates[0]).toFixed(2)}× |` : '';
    console.log(`| ${name} ${rows}×${cols} | ${dt} | ${rates.map((r) => r.toFixed(2)).join(' | ')} |${ratio}`);
  }
}
