/**
 * Chat templates: render a conversation to the prompt text the model was trained on, exactly as
 * transformers' `apply_chat_template(messages, tokenize=False, add_generation_prompt=...)` does.
 *
 * transformers compiles `chat_template` with Jinja2 (`trim_blocks=True, lstrip_blocks=True`, loop controls) and
 * renders it with `messages`, `add_generation_prompt`, the special tokens (`bos_token`, `eos_token`, …) and the
 * globals `raise_exception(msg)` and `strftime_now(fmt)`. `@huggingface/jinja` implements the same dialect (its
 * `Template` applies the same block trimming, defines both globals, and its `tojson` matches Python's
 * `json.dumps(ensure_ascii=False)`), so we only supply the same variables. The rendered text is then encoded *without* adding special tokens: the
 * template already wrote them (transformers also tokenizes the rendered chat with `add_special_tokens=False`).
 */
import { Template } from '@huggingface/jinja';
import { TokenizerError } from '../errors.ts';

/** One chat message. Extra fields (e.g. `tool_calls`) are passed to the template unchanged. */
export interface ChatMessage {
  /** Who speaks: `system`, `user` or `assistant` (the template decides what it accepts). */
  role: string;
  /** The message text. */
  content: string;
  [key: string]: unknown;
}

/** Options of {@link renderChatTemplate}. */
export interface ChatTemplateOptions {
  /** End with the opening of an assistant turn (transformers `add_generation_prompt`). Default `false`. */
  addGenerationPrompt?: boolean;
  /** The `bos_token` variable (from the tokenizer files; never hard-coded). */
  bosToken?: string;
  /** The `eos_token` variable. */
  eosToken?: string;
  /** More variables for the template (`pad_token`, `tools`, `documents`, …). */
  variables?: Record<string, unknown>;
  /**
   * When `template` is missing: `false` (default) throws a TokenizerError; `true` renders the plain fallback of
   * {@link plainChatPrompt} instead. Never silently on, because a wrong prompt format quietly degrades a model.
   */
  fallback?: boolean;
}

/**
 * The plain fallback used only with `fallback: true` when a model has no chat template: one line per message,
 * `"System: …"`, `"User: …"`, `"Assistant: …"` (the role capitalized), each followed by `"\n"`, and with
 * `addGenerationPrompt` a final `"Assistant:"`. This is the informal format Falcon base models saw most in
 * pre-training dialogues; it is a best effort, not the model's trained format.
 */
export function plainChatPrompt(messages: readonly ChatMessage[], addGenerationPrompt = false): string {
  let out = '';
  for (const m of messages) {
    const role = m.role.length > 0 ? m.role[0].toUpperCase() + m.role.slice(1) : m.role;
    out += `${role}: ${m.content}\n`;
  }
  if (addGenerationPrompt) out += 'Assistant:';
  return out;
}

/**
 * Render a chat template as transformers' `apply_chat_template(..., tokenize=False)`.
 * @param template the Jinja `chat_template` (from tokenizer_config.json, chat_template.jinja, …); `undefined`
 *   or `null` when the model has none (see `options.fallback`)
 * @param messages the conversation
 * @throws TokenizerError when the template is missing (without `fallback`), does not parse, or calls
 *   `raise_exception` (the message is the template's)
 */
export function renderChatTemplate(template: string | null | undefined, messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
  if (!Array.isArray(messages)) throw new TokenizerError('renderChatTemplate: messages must be an array of {role, content}');
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object' || typeof m.role !== 'string') throw new TokenizerError(`renderChatTemplate: messages[${i}] needs a string "role"`);
  });
  if (template === null || template === undefined || template === '') {
    if (options.fallback) return plainChatPrompt(messages, options.addGenerationPrompt === true);
    throw new TokenizerError('this tokenizer has no chat_template (tokenizer_config.json / chat_template.jinja); pass a template, or fallback: true for a plain "User: …\\nAssistant:" prompt');
  }
  let compiled: Template;
  try {
    compiled = new Template(template);
  } catch (e) {
    throw new TokenizerError(`chat_template does not parse: ${(e as Error).message}`);
  }
  const variables: Record<string, unknown> = {
    ...options.variables,
    messages,
    add_generation_prompt: options.addGenerationPrompt === true,
    bos_token: options.bosToken ?? '',
    eos_token: options.eosToken ?? '',
  };
  try {
    return compiled.render(variables);
  } catch (e) {
    // `raise_exception(msg)` (a global of @huggingface/jinja, as in transformers) throws Error(msg).
    throw new TokenizerError(`chat_template: ${(e as Error).message}`);
  }
}
