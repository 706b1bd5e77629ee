/**
 * What the server specs share: the demo model (models/demo, ChatML template) loaded once per file, a server
 * on a free port of 127.0.0.1, an `openai` client pointed at it, and the expected greedy text from the
 * library's own generate().
 */
import { join } from 'node:path';
import OpenAI from 'openai';
import {
  createServer, generate, loadGenerationConfig, loadModel, loadTokenizerFiles, renderChatTemplate,
  type ChatMessage, type FalconMambaServer, type GenerationConfig, type Model, type ServerOptions, type TokenizerFiles,
} from '../../src/index.ts';
import { REPO } from '../helpers/goldens.ts';

export const DEMO = join(REPO, 'models', 'demo');

/** The demo model, its tokenizer files and generation config. */
export interface Demo {
  model: Model;
  files: TokenizerFiles;
  generation: GenerationConfig;
}

export async function loadDemo(): Promise<Demo> {
  const model = await loadModel(DEMO, { threads: 1 });
  const files = await loadTokenizerFiles(DEMO);
  const generation = await loadGenerationConfig(DEMO, model.config);
  return { model, files, generation };
}

/** A listening server and a client for it. */
export interface Running {
  server: FalconMambaServer;
  url: string;
  client: OpenAI;
}

export async function start(d: Demo, options: ServerOptions = {}): Promise<Running> {
  const server = createServer(d.model, d.files, { modelId: 'demo', generation: d.generation, ...options });
  const { url } = await server.listen({ port: 0 });
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: options.apiKey ?? 'unused', maxRetries: 0, timeout: 60_000 });
  return { server, url, client };
}

/** The ids that end a chat reply of the demo: the generation config's eos and ChatML's <|im_end|>. */
export function chatEos(d: Demo): number[] {
  const ids = new Set(d.generation.eosTokenIds);
  if (d.files.eosTokenId !== undefined) ids.add(d.files.eosTokenId);
  ids.add(d.files.tokenizer.tokenToId('<|im_end|>')!);
  return [...ids];
}

/** The library's greedy text for a raw prompt (the reference every server answer is held to). */
export async function expectedText(d: Demo, prompt: string, maxTokens: number, eos: number[], extra: Record<string, unknown> = {}): Promise<{ text: string; tokens: number[]; finish: string }> {
  const gen = generate(d.model, d.files.tokenizer, prompt, { maxTokens, eosTokenIds: eos, temperature: 0, ...extra });
  let text = '';
  for await (const e of gen) text += e.text;
  const s = gen.summary!;
  return { text, tokens: s.tokens, finish: s.finishReason === 'eos' ? 'stop' : s.finishReason };
}

/** The rendered ChatML prompt of `messages` with the generation prompt. */
export function chatPrompt(d: Demo, messages: ChatMessage[]): string {
  return renderChatTemplate(d.files.chatTemplate, messages, { addGenerationPrompt: true, bosToken: d.files.bosToken, eosToken: d.files.eosToken });
}

/** Reads a metric's value from the /metrics text. */
export async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  if (!line) throw new Error(`no metric ${name}{${labels}} in:\n${text}`);
  return Number(line.split(' ').pop());
}
