/**
 * Batched decode (docs/server.md): aggregate decode tokens/s of `stepBatch` for B = 1, 2, 4, 8, 16 sequences,
 * beside the same run's prefill rate (the compute bound batched decode approaches: a prefill of 256 tokens reads
 * each weight once per 64-token chunk, a batch of B once per B tokens). One model per (dtype, threads), loaded in
 * this process; every B is timed over `--steps` steps after two warm-up steps, best of `--rounds`.
 *
 *   npx tsx bench/batch.ts --dir /work/models/synthetic-small [--dtypes bf16,q8,q4] [--threads 1,2] [--steps 8]
 *   npx tsx bench/batch.ts --dir /work/models/synthetic-7b --dtypes q8,q4 --threads 2 --steps 3 --rounds 1 --prefill 32
 *
 * `npm run bench` runs it after its table (bench/bench.ts; `--no-batch` skips it, `--7b` adds the 7B rows).
 * Prints one markdown table: per row the prefill tok/s and, per B, aggregate tok/s and its ratio to B = 1, with
 * the targets under it (B = 4 ≥ 2.2× B = 1 for bf16 on 2 threads; B ≥ 8 ≥ 85% of prefill). The prefill returns
 * the last token's logits only, so its lm_head runs once per 256 tokens where a decode step runs it for every
 * sequence; the table also gives the prefill with every position's logits (`allLogits`), the same matrix work per
 * token as a decode step, and each B ≥ 8 rate's share of it.
 * Run it on a quiet machine (the team's /work/bin/quiet): it measures nothing but speed.
 */
import { readFileSync } from 'node:fs';
import { loadModel, type WeightDType } from '../src/index.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const dir = opt('dir', 'models/synthetic-small');
const dtypes = opt('dtypes', 'bf16,q8,q4').split(',') as WeightDType[];
const threadsList = opt('threads', '1,2').split(',').map(Number);
const steps = Number(opt('steps', '8'));
const rounds = Number(opt('rounds', '2'));
const prefillN = Number(opt('prefill', '256'));
const BS = opt('batches', '1,2,4,8,16').split(',').map(Number);

const rows: string[] = [];
/** Aggregate tok/s by `${dtype} ${threads}`, per B, and the prefill rate: what the targets are checked against. */
const measured = new Map<string, { prefill: number; prefillAll: number; rates: number[] }>();
const now = () => performance.now();
for (const dtype of dtypes) {
  for (const threads of threadsList) {
    const model = await loadModel(dir, { dtype, threads });
    const V = model.config.vocabSize;
    const ids = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (seed * 7919 + i * 104729) % V);
    // Prefill: best of two after a warm-up chunk.
    await model.prefill(model.createState(), ids(64, 1));
    let prefill = 0, prefillAll = 0;
    for (let r = 0; r < 2; r++) {
      let t0 = now();
      await model.prefill(model.createState(), ids(prefillN, 2 + r));
      prefill = Math.max(prefill, (prefillN * 1000) / (now() - t0));
      t0 = now();
      await model.prefill(model.createState(), ids(prefillN, 2 + r), { allLogits: true });
      prefillAll = Math.max(prefillAll, (prefillN * 1000) / (now() - t0));
    }
    const rates: number[] = [];
    for (const B of BS) {
      const states = Array.from({ length: B }, () => model.createState());
      for (let b = 0; b < B; b++) await model.prefill(states[b], ids(4, 10 + b));
      let tok = ids(B, 3);
      for (let w = 0; w < 2; w++) await model.stepBatch(states, tok);
      let best = 0;
      for (let r = 0; r < rounds; r++) {
        const t0 = now();
        for (let s = 0; s < steps; s++) {
          const l = await model.stepBatch(states, tok);
          tok = tok.map((_, b) => (l[b * V] > 0 ? (b + s) % V : (b * 3 + s) % V)); // cheap, data-dependent ids
        }
        best = Math.max(best, (B * steps * 1000) / (now() - t0));
      }
      rates.push(best);
    }
    measured.set(`${dtype} ${threads}`, { prefill, prefillAll, rates });
    const cells = rates.map((r, i) => `${r.toFixed(1)} (${(r / rates[0]).toFixed(2)}×, ${((100 * r) / prefill).toFixed(0)}%)`);
    rows.push(`| ${dtype} | ${threads} | ${prefill.toFixed(1)} | ${prefillAll.toFixed(1)} | ${cells.join(' | ')} |`);
    console.error(rows.at(-1));
    await model.dispose();
  }
}
const cpu = (() => {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? 'unknown CPU';
  } catch {
    return 'unknown CPU';
  }
})();
console.log(`\nBatched decode (Model.stepBatch), ${dir}, ${cpu}: aggregate tok/s (× B = 1, % of the same run's prefill(${prefillN}))\n`);
console.log(`| dtype | threads | prefill tok/s | prefill, all logits | ${BS.map((b) => `B = ${b}`).join(' | ')} |`);
console.log(`|---|---:|---:|---:|${BS.map(() => '---:').join('|')}|`);
for (const r of rows) console.log(r);

// The batched-decode targets (docs/server.md) that this run's rows can check.
const is7b = dir.includes('7b');
const at = (key: string, B: number) => {
  const m = measured.get(key);
  const i = BS.indexOf(B);
  return m && i >= 0 ? m.rates[i] / m.rates[0] : undefined;
};
const verdict = (x: number | undefined, goal: number, unit: string) => (x === undefined ? 'not measured' : `${x.toFixed(2)}${unit} ${x >= goal ? 'met' : 'NOT met'}`);
const lines: string[] = [];
if (!is7b) lines.push(`B = 4 ≥ 2.2× B = 1 (bf16, 2 threads): ${verdict(at('bf16 2', 4), 2.2, '×')}`);
else lines.push(`7B q8 B = 4 ≥ 2.5× B = 1 (2 threads): ${verdict(at('q8 2', 4), 2.5, '×')}`);
for (const [key, m] of measured) {
  const big = BS.map((B, i) => [B, m.rates[i]] as const).filter(([B]) => B >= 8);
  if (big.length) {
    lines.push(
      `B ≥ 8 ≥ 85% of prefill (${key} thr): ${big.map(([B, r]) => `B = ${B} ${verdict((100 * r) / m.prefill, 85, '%')}`).join(', ')}` +
        ` (of the all-logits prefill: ${big.map(([B, r]) => `${((100 * r) / m.prefillAll).toFixed(0)}%`).join(', ')})`,
    );
  }
}
console.log('\n' + lines.map((l) => `target: ${l}`).join('\n'));
