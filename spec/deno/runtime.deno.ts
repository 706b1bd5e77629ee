// The library under Deno 2, unchanged: load a golden model with the wasm backend, check its logits
// against the transformers goldens, tokenize with the real Falcon tokenizer, and generate greedily.
// Run: npx deno test --allow-read --allow-env spec/deno/runtime.deno.ts   (npm test runs it after vitest)
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, generateIds, loadModel, loadTokenizerFiles, renderChatTemplate, Tokenizer } from '../../src/index.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const GOLDEN = resolve(REPO, '../shared/goldens/falcon-tiny-bf16');
const BACKEND = (Deno.env.get('FM_BACKEND') ?? 'wasm') as 'wasm' | 'reference';
const TOL = { atol: 5e-5, rtol: 5e-5 }; // the same rule as spec/reference/goldens.spec.ts

function argmax(a: Float32Array, off = 0, n = a.length): number {
  let b = off;
  for (let i = off + 1; i < off + n; i++) if (a[i] > a[b]) b = i;
  return b - off;
}

Deno.test(`Deno ${Deno.version.deno}: ${BACKEND} backend matches the transformers goldens`, async () => {
  const g = JSON.parse(readFileSync(join(GOLDEN, 'goldens.json'), 'utf8'));
  const model = await loadModel(join(GOLDEN, 'model'), { backend: BACKEND });
  const V = model.config.vocabSize;
  try {
    for (const s of g.seqs.slice(0, 3)) {
      const b = readFileSync(join(GOLDEN, s.last_logits_file));
      const ref = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      const state = model.createState();
      let logits = await model.prefill(state, s.ids);
      let worst = 0;
      for (let i = 0; i < V; i++) {
        const err = Math.abs(logits[i] - ref[i]);
        if (err > TOL.atol + TOL.rtol * Math.abs(ref[i])) throw new Error(`logit ${i}: ${logits[i]} vs ${ref[i]}`);
        worst = Math.max(worst, err);
      }
      const greedy: number[] = [];
      for (let i = 0; i < 16; i++) {
        greedy.push(argmax(logits));
        if (i < 15) logits = await model.step(state, greedy[i]);
      }
      if (JSON.stringify(greedy) !== JSON.stringify(s.greedy16)) {
        throw new Error(`greedy ${JSON.stringify(greedy)} != ${JSON.stringify(s.greedy16)}`);
      }
    }
  } finally {
    await model.dispose();
  }
});

Deno.test('Deno: the Falcon tokenizer passes llama.cpp\'s conformance cases', async () => {
  const dir = resolve(REPO, '../shared/tokenizers/falcon');
  const tok = await Tokenizer.fromFile(join(dir, 'tokenizer.json'));
  const sep = '\n__ggml_vocab_test__\n';
  const inputs = readFileSync(join(dir, 'llamacpp-tests/ggml-vocab-falcon.gguf.inp'), 'utf8').split(sep).slice(0, -1);
  const outputs = readFileSync(join(dir, 'llamacpp-tests/ggml-vocab-falcon.gguf.out'), 'utf8').split('\n');
  inputs.forEach((text, i) => {
    const want = outputs[i].trim() === '' ? [] : outputs[i].trim().split(/\s+/).map(Number);
    const got = tok.encode(text);
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`case ${i} ${JSON.stringify(text)}: ${got} != ${want}`);
  });
});

Deno.test('Deno: greedy generateIds equals the transformers continuation', async () => {
  const g = JSON.parse(readFileSync(join(GOLDEN, 'goldens.json'), 'utf8'));
  const model = await loadModel(join(GOLDEN, 'model'), { backend: BACKEND });
  try {
    const s = g.seqs[1];
    const gen = generateIds(model, s.ids, { maxTokens: 16, temperature: 0 });
    const got: number[] = [];
    for await (const ev of gen) got.push(ev.token);
    if (JSON.stringify(got) !== JSON.stringify(s.greedy16)) throw new Error(`${got} != ${s.greedy16}`);
  } finally {
    await model.dispose();
  }
});

Deno.test('Deno: the demo model chats through its template and streams text', async () => {
  const dir = join(REPO, 'models/demo');
  const files = await loadTokenizerFiles(dir);
  if (!files.chatTemplate) throw new Error('models/demo has no chat template');
  const prompt = renderChatTemplate(files.chatTemplate, [{ role: 'user', content: 'Tell me a story.' }], {
    addGenerationPrompt: true, bosToken: files.bosToken ?? '', eosToken: files.eosToken ?? '',
  });
  if (!prompt.includes('Tell me a story.')) throw new Error(`template output: ${prompt}`);
  const model = await loadModel(dir, { backend: BACKEND });
  try {
    let text = '';
    for await (const ev of generate(model, files.tokenizer, 'The old man', { maxTokens: 12, temperature: 0.8, seed: 1 })) text += ev.text;
    if (text.length === 0) throw new Error('no text generated');
  } finally {
    await model.dispose();
  }
});
