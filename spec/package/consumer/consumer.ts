// A TypeScript user's program, type-checked (strict, module nodenext, no skipLibCheck) against the installed
// package's declarations only: the public types must be complete and usable as documented.
import {
  FalconMambaError, generate, InputError, loadModel, loadTokenizerFiles, type Backend, type GenerationSummary, type LoadOptions,
  type Model, type ModelState, type TextEvent, type WeightDType,
} from 'falcon-mamba';

const backend: Backend = 'wasm';
const dtype: WeightDType = 'q8';
const options: LoadOptions = { backend, dtype, threads: 1, onProgress: (p) => void p.loadedBytes };
const dir = 'node_modules/falcon-mamba/models/demo';

const model: Model = await loadModel(dir, options);
const { tokenizer } = await loadTokenizerFiles(dir);
const gen = generate(model, tokenizer, 'The old man', { maxTokens: 8, temperature: 0.8, topP: 0.95, seed: 1, stop: ['\n'] });
for await (const event of gen) {
  const e: TextEvent = event;
  process.stdout.write(e.text);
}
const summary: GenerationSummary | undefined = gen.summary;
const state: ModelState = model.createState();
const logits: Float32Array = await model.prefill(state, tokenizer.encode('The old man'));
const bytes: Uint8Array = model.saveState(state);
const vocab: number = model.config.vocabSize + logits.length + bytes.length + (summary?.tokens.length ?? 0);
try {
  model.loadState(new Uint8Array(4));
} catch (e) {
  if (!(e instanceof InputError) || !(e instanceof FalconMambaError)) throw e;
}
await model.dispose();
export { vocab };
