/**
 * The worst |logit − transformers logit| of a backend over every golden case (the figure quoted in
 * spec/reference/goldens.spec.ts and the README).  Run: `npx tsx bench/golden-error.ts [reference|wasm]`.
 */
import { loadModel, type Backend } from '../src/index.ts';
import { loadGoldenCases } from '../spec/helpers/goldens.ts';

const backend = (process.argv[2] ?? 'reference') as Backend;
let overall = 0;
for (const gc of loadGoldenCases()) {
  const m = await loadModel(gc.modelDir, { backend });
  const V = m.config.vocabSize;
  let worst = 0;
  for (const s of gc.seqs) {
    const logits = await m.forward(s.ids);
    s.positions.forEach((p, k) => {
      for (let i = 0; i < V; i++) worst = Math.max(worst, Math.abs(logits[p * V + i] - s.logits[k * V + i]));
    });
  }
  await m.dispose();
  overall = Math.max(overall, worst);
  process.stdout.write(`${gc.name.padEnd(28)} max |logit diff| ${worst.toExponential(2)}\n`);
}
process.stdout.write(`${backend}: worst over all goldens ${overall.toExponential(2)}\n`);
