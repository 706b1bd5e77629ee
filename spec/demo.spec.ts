// The shipped demo model: its held-out loss by this project's engine equals the loss PyTorch measured
// on the same windows (fixtures/demo/heldout-loss.json), window by window. Rule: |ours − PyTorch| ≤ 1e-4
// nats/token per window — both run f32 from the same bf16 weights; measured differences are ~1e-8, while a
// wrong tokenization or a model bug moves a window's mean NLL by ≥ 1e-2.
// The full 80-window figure: `npx tsx fixtures/demo/heldout-loss.mts wasm`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, nextTokenNll, Tokenizer } from '../src/index.ts';
import { REPO } from './helpers/goldens.ts';

const WINDOWS = 10;

describe('demo model held-out loss = PyTorch', () => {
  it(`first ${WINDOWS} windows of 256 tokens, default backend`, async () => {
    const ref = JSON.parse(readFileSync(join(REPO, 'fixtures/demo/heldout-loss.json'), 'utf8'));
    const tok = await Tokenizer.fromFile(join(REPO, 'models/demo/tokenizer.json'));
    const ids = tok.encode(readFileSync(join(REPO, ref.text), 'utf8'));
    expect(ids.length).toBeGreaterThanOrEqual(ref.tokens);
    const model = await loadModel(join(REPO, 'models/demo'));
    const V = model.config.vocabSize;
    try {
      for (let w = 0; w < WINDOWS; w++) {
        const win = ids.slice(w * 256, (w + 1) * 256);
        const nll = nextTokenNll(await model.forward(win), win, V).mean;
        expect(Math.abs(nll - ref.window_mean_nll[w]), `window ${w}: ours ${nll} vs PyTorch ${ref.window_mean_nll[w]}`).toBeLessThanOrEqual(1e-4);
      }
    } finally {
      await model.dispose();
    }
  });
});
