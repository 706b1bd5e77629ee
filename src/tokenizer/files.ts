/**
 * The tokenizer files of a Hugging Face model folder: `tokenizer.json` (required), `tokenizer_config.json`,
 * `special_tokens_map.json`, `chat_template.jinja` / `chat_template.json` (all optional).
 *
 * Special tokens and the chat template always come from these files, never from constants: the Falcon-Mamba
 * instruct tokenizer, for example, renames ids 7–11 (`assistant`, `<|begin_of_text|>`, `<|im_start|>`,
 * `<|im_end|>`, `<|end_of_text|>`), and the base model has no BOS at all.
 */
import { join } from 'node:path';
import { TokenizerError } from '../errors.ts';
import { readTextFile } from '../io/files.ts';
import { renderChatTemplate, type ChatMessage, type ChatTemplateOptions } from './chat.ts';
import { Tokenizer, type TokenizerOptions } from './tokenizer.ts';

/** What {@link loadTokenizerFiles} found. */
export interface TokenizerFiles {
  /** The tokenizer built from tokenizer.json. */
  tokenizer: Tokenizer;
  /** The default chat template, if any. */
  chatTemplate?: string;
  /** All named chat templates (the list form of `chat_template`; the single string form is named "default"). */
  chatTemplates: Record<string, string>;
  /** `bos_token` from tokenizer_config.json or special_tokens_map.json, when present. */
  bosToken?: string;
  /** `eos_token`, as above. */
  eosToken?: string;
  /** `pad_token`, as above. */
  padToken?: string;
  /** `unk_token`, as above. */
  unkToken?: string;
  /** Ids of the tokens above, looked up in the tokenizer (undefined when absent there). */
  bosTokenId?: number;
  /** Id of `eosToken`. */
  eosTokenId?: number;
  /** Id of `padToken`. */
  padTokenId?: number;
  /** transformers' `add_bos_token` / `add_eos_token` flags from tokenizer_config.json, when present. */
  addBosToken?: boolean;
  /** transformers' `add_eos_token`, when present. */
  addEosToken?: boolean;
  /** The parsed tokenizer_config.json (`{}` when missing). */
  config: Record<string, unknown>;
}

async function readOptionalJson(path: string): Promise<Record<string, unknown> | undefined> {
  const text = await readOptionalText(path);
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('expected a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new TokenizerError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
}

/** A regular file of at most 16 MiB (src/io/files.ts: a FIFO or /dev/zero in a model folder must not hang us). */
function readOptionalText(path: string): Promise<string | undefined> {
  return readTextFile(path, TokenizerError, { optional: true, what: 'tokenizer file' });
}

/** A special token entry: a string, or an AddedToken object `{content, ...}` (transformers writes both). */
function tokenContent(v: unknown, where: string): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  throw new TokenizerError(`${where}: expected a string or {"content": string}, got ${JSON.stringify(v)}`);
}

/** `chat_template` is a string, or a list of `{name, template}` (transformers ≥ 4.34). */
function parseChatTemplates(v: unknown, where: string): Record<string, string> {
  if (v === null || v === undefined) return {};
  if (typeof v === 'string') return { default: v };
  if (Array.isArray(v)) {
    const out: Record<string, string> = {};
    v.forEach((t, i) => {
      const o = t as { name?: unknown; template?: unknown };
      if (typeof o?.name !== 'string' || typeof o.template !== 'string') throw new TokenizerError(`${where}[${i}]: expected {"name": string, "template": string}`);
      out[o.name] = o.template;
    });
    return out;
  }
  throw new TokenizerError(`${where}: expected a string or a list of {name, template}`);
}

/**
 * Load the tokenizer files of a model folder.
 * @throws TokenizerError when tokenizer.json is missing or unusable, or another file is not valid JSON
 */
export async function loadTokenizerFiles(dir: string, options: TokenizerOptions = {}): Promise<TokenizerFiles> {
  const tokenizer = await Tokenizer.fromFile(join(dir, 'tokenizer.json'), options);
  const configPath = join(dir, 'tokenizer_config.json');
  const config = (await readOptionalJson(configPath)) ?? {};
  const stmPath = join(dir, 'special_tokens_map.json');
  const stm = (await readOptionalJson(stmPath)) ?? {};

  let chatTemplates = parseChatTemplates(config.chat_template, `${configPath}: chat_template`);
  // transformers ≥ 4.43 may save the template beside the config; that file wins, as in transformers.
  const ctJson = await readOptionalJson(join(dir, 'chat_template.json'));
  if (ctJson) chatTemplates = { ...chatTemplates, ...parseChatTemplates(ctJson.chat_template, `${join(dir, 'chat_template.json')}: chat_template`) };
  const jinja = await readOptionalText(join(dir, 'chat_template.jinja'));
  if (jinja !== undefined) chatTemplates = { ...chatTemplates, default: jinja };
  const chatTemplate = chatTemplates.default ?? Object.values(chatTemplates)[0];

  const pick = (key: string): string | undefined =>
    tokenContent(config[key], `${configPath}: ${key}`) ?? tokenContent(stm[key], `${stmPath}: ${key}`);
  const bosToken = pick('bos_token');
  const eosToken = pick('eos_token');
  const padToken = pick('pad_token');
  const unkToken = pick('unk_token');
  const id = (t: string | undefined): number | undefined => (t === undefined ? undefined : tokenizer.tokenToId(t));
  return {
    tokenizer,
    chatTemplate,
    chatTemplates,
    bosToken,
    eosToken,
    padToken,
    unkToken,
    bosTokenId: id(bosToken),
    eosTokenId: id(eosToken),
    padTokenId: id(padToken),
    addBosToken: typeof config.add_bos_token === 'boolean' ? config.add_bos_token : undefined,
    addEosToken: typeof config.add_eos_token === 'boolean' ? config.add_eos_token : undefined,
    config,
  };
}

/**
 * Render a conversation with the folder's own chat template and special tokens (a convenience over
 * {@link renderChatTemplate}). Without a template it throws, unless `options.fallback` is true.
 */
export function applyChatTemplate(files: TokenizerFiles, messages: readonly ChatMessage[], options: Omit<ChatTemplateOptions, 'bosToken' | 'eosToken'> = {}): string {
  return renderChatTemplate(files.chatTemplate, messages, {
    ...options,
    bosToken: files.bosToken,
    eosToken: files.eosToken,
    variables: { pad_token: files.padToken, unk_token: files.unkToken, ...options.variables },
  });
}
