// A TypeScript user's program, type-checked (strict, module nodenext, no skipLibCheck) against the installed
// package's declarations only, then run: the public types must be complete and usable as documented.
import {
  FalconMambaError, generate, InputError, loadModel, loadTokenizerFiles, type Backend, type GenerationSummary, type LoadOptions,
  type Model, type ModelState, type TextEvent, type WeightDType,
} from 'falcon-mamba';

const backend: Backend = 'wasm';
const dtype: WeightDType = 'q8';
const options: LoadOptions = { backend, dtype, threads: 1, onProgress: (p) => void p.loadedBytes };
const dir = 'node_modules/falcon-mamba/models/demo';

let used: Model;
{
  await using model = await loadModel(dir, options);
  used = model;
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
  console.log(`\nvocab ${model.config.vocabSize} logits ${logits.length} state ${bytes.length} bytes, ${summary?.tokens.length} tokens`);
  try {
    model.loadState(new Uint8Array(4));
  } catch (e) {
    if (!(e instanceof InputError) || !(e instanceof FalconMambaError)) throw e;
  }
}
// Leaving the block disposed the model: the wasm backend refuses to run it.
const after = await (async () => used.step(used.createState(), 0))().then(() => 'ran', (e: unknown) => (e instanceof InputError ? e.message : String(e)));
console.log(`after await using: ${after}`);
