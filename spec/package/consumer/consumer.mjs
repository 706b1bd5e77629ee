// A user's plain ESM script, run by Node 20 with no loader and by Deno: it sees only the installed package.
// Loads the packaged demo model on the wasm backend, generates greedily and prints one JSON line.
import { fileURLToPath } from 'node:url';
import { generate, loadModel, loadTokenizerFiles } from 'falcon-mamba';

const dir = fileURLToPath(new URL('./node_modules/falcon-mamba/models/demo', import.meta.url));
const notices = [];
const model = await loadModel(dir, { backend: 'wasm', threads: 2, onNotice: (m) => notices.push(m) });
const { tokenizer } = await loadTokenizerFiles(dir);
let text = '';
const gen = generate(model, tokenizer, 'The old man', { maxTokens: 24, temperature: 0 });
for await (const e of gen) {
  text += e.text;
}
await model.dispose();
console.log(JSON.stringify({ entry: import.meta.resolve('falcon-mamba'), backend: model.backend, notices, tokens: gen.summary.tokens, text }));
