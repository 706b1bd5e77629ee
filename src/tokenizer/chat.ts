/**
 * Chat templates: render a conversation to the prompt text the model was trained on, exactly as
 * transformers' `apply_chat_template(messages, tokenize=False, add_generation_prompt=...)` does.
 *
 * transformers compiles `chat_template` with Jinja2 (`trim_blocks=True, lstrip_blocks=True`, loop controls) and
 * renders it with `messages`, `add_generation_prompt`, the special tokens (`bos_token`, `eos_token`, …) and the
 * globals `raise_exception(msg)` and `strftime_now(fmt)`. `@huggingface/jinja` implements the same dialect (its
 * `Template` applies the same block trimming, and its `tojson` matches Python's `json.dumps(ensure_ascii=False)`),
 * so we only supply the same variables. The rendered text is then encoded *without* adding special tokens: the
 * template already wrote them (transformers also tokenizes the rendered chat with `add_special_tokens=False`).
 */
import { Template } from '@huggingface/jinja';
import { TokenizerError } from '../errors.ts';

/** One chat message. Extra fields (e.g. `tool_calls`) are passed to the template unchanged. */
export interface ChatMessage {
  role: string;
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
  /** The date for `strftime_now` (default: now). Useful for reproducible renderings. */
  now?: Date;
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** The subset of Python's `strftime` that chat templates use (Llama 3 writes `"%d %b %Y"`). */
function strftime(d: Date, fmt: string): string {
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return fmt.replace(/%([a-zA-Z%])/g, (_, c: string) => {
    switch (c) {
      case 'd': return p2(d.getDate());
      case 'm': return p2(d.getMonth() + 1);
      case 'Y': return String(d.getFullYear());
      case 'y': return p2(d.getFullYear() % 100);
      case 'H': return p2(d.getHours());
      case 'M': return p2(d.getMinutes());
      case 'S': return p2(d.getSeconds());
      case 'B': return MONTHS[d.getMonth()];
      case 'b': return MONTHS[d.getMonth()].slice(0, 3);
      case 'A': return DAYS[d.getDay()];
      case 'a': return DAYS[d.getDay()].slice(0, 3);
      case 'j': return String(Math.floor((d.getTime() - new Date(d.getFullYear(), 0, 1).getTime()) / 86400000) + 1).padStart(3, '0');
      case '%': return '%';
      default: return '%' + c;
    }
  });
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
  const now = options.now ?? new Date();
  const variables: Record<string, unknown> = {
    ...options.variables,
    messages,
    add_generation_prompt: options.addGenerationPrompt === true,
    bos_token: options.bosToken ?? '',
    eos_token: options.eosToken ?? '',
    raise_exception: (message: unknown): never => {
      throw new TokenizerError(String(message));
    },
    strftime_now: (fmt: unknown): string => strftime(now, String(fmt)),
  };
  try {
    return compiled.render(variables);
  } catch (e) {
    if (e instanceof TokenizerError) throw e;
    throw new TokenizerError(`chat_template failed to render: ${(e as Error).message}`);
  }
}
