// The server under Deno: the same createServer app, listening through Deno.serve, answers a chat
// completion (whole and streamed) with the text of the library's greedy generate() on the rendered prompt.
// Run: npx deno test --no-check --no-lock --allow-read --allow-env --allow-net spec/deno/server.deno.ts
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, generate, loadGenerationConfig, loadModel, loadTokenizerFiles, renderChatTemplate } from '../../src/index.ts';

const DEMO = resolve(dirname(fileURLToPath(import.meta.url)), '../../models/demo');

Deno.test(`Deno ${Deno.version.deno}: the server answers a chat as generate() does, whole and streamed`, async () => {
  const model = await loadModel(DEMO, { threads: 1 });
  const files = await loadTokenizerFiles(DEMO);
  const generation = await loadGenerationConfig(DEMO, model.config);
  const server = createServer(model, files, { modelId: 'demo', generation });
  try {
    const { url } = await server.listen({ port: 0 });
    const messages = [{ role: 'user', content: 'Tell me about the sea.' }];
    const prompt = renderChatTemplate(files.chatTemplate, messages, { addGenerationPrompt: true });
    const eos = [...generation.eosTokenIds, files.tokenizer.tokenToId('<|im_end|>')!];
    let want = '';
    for await (const e of generate(model, files.tokenizer, prompt, { maxTokens: 24, temperature: 0, eosTokenIds: eos })) want += e.text;

    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'demo', messages, max_tokens: 24, temperature: 0 }) });
    if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
    const body = await res.json();
    if (body.choices[0].message.content !== want) throw new Error(`${JSON.stringify(body.choices[0].message.content)} != ${JSON.stringify(want)}`);

    const sse = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages, max_tokens: 24, temperature: 0, stream: true }) });
    const text = await sse.text();
    const events = text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
    if (events[events.length - 1] !== '[DONE]') throw new Error(`the stream does not end with [DONE]: ${text.slice(-200)}`);
    const streamed = events.slice(0, -1).map((e) => JSON.parse(e).choices[0]?.delta?.content ?? '').join('');
    if (streamed !== want) throw new Error(`streamed ${JSON.stringify(streamed)} != ${JSON.stringify(want)}`);
  } finally {
    await server.close({ graceMs: 0 });
    await model.dispose();
  }
});
