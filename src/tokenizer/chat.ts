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
import { Environment, Interpreter, Template } from '@huggingface/jinja';
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
  /**
   * Work budget of one rendering (default {@link DEFAULT_RENDER_BUDGET}, plus 16 per character and
   * {@link ITEM_COST} per list item or object of the messages and variables). Each step of the interpreter costs
   * {@link STEP_COST}, and each value it computes its size besides (1 per character of a string,
   * {@link ITEM_COST} per item of a list): the weights are the measured relative costs, so the budget bounds the
   * time (about a second by default) and the text a template makes. Over it the render stops with a
   * TokenizerError instead of looping, or growing a string until V8 aborts the process.
   */
  maxRenderWork?: number;
}

/** The fixed part of a rendering's work budget: ~1 s of interpretation. A real template uses ~6,400 per message. */
export const DEFAULT_RENDER_BUDGET = 1 << 26;
/** Cost of one interpreter step (one evaluated node), ~0.7 µs, against 1 per character of text (~1 ns). */
export const STEP_COST = 64;
/** Cost of one list item (a `for` over it makes a scope per item, ~8 µs). */
export const ITEM_COST = 640;
/** The longest list `range()` builds in a template (transformers' templates loop over messages, not numbers). */
export const MAX_TEMPLATE_RANGE = 1 << 20;

/** Size of the inputs a template renders, to scale its budget: 16 per character, ITEM_COST per item or object. */
function inputCost(v: unknown, depth = 0): number {
  if (typeof v === 'string') return 16 * v.length;
  if (v === null || typeof v !== 'object' || depth > 64) return ITEM_COST;
  let n = ITEM_COST;
  for (const x of Array.isArray(v) ? v : Object.values(v)) n += inputCost(x, depth + 1);
  return n;
}

/**
 * `range()` as Jinja's (Python's) with a bound on its length: `@huggingface/jinja`'s builds the whole list
 * first, and a list of 10⁹ numbers aborts V8 with a fatal "invalid size" that no try/catch can stop.
 */
function boundedRange(start: unknown, stop?: unknown, step: unknown = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (typeof start !== 'number' || typeof stop !== 'number' || typeof step !== 'number' || !Number.isFinite(start) || !Number.isFinite(stop)) {
    throw new Error('range() arguments must be finite numbers');
  }
  if (step === 0 || !Number.isFinite(step)) throw new Error('range() step must be a non-zero number');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  if (n > MAX_TEMPLATE_RANGE) throw new Error(`range() of ${n} numbers exceeds the limit of ${MAX_TEMPLATE_RANGE}`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(start + i * step);
  return out;
}

/** `strftime_now(fmt)`, the transformers global, with the directives @huggingface/jinja supports. */
function strftimeNow(format: unknown): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return String(format).replace(/%[YmdbBHM%]/g, (t) => {
    switch (t) {
      case '%Y': return String(d.getFullYear());
      case '%m': return pad(d.getMonth() + 1);
      case '%d': return pad(d.getDate());
      case '%b': return new Intl.DateTimeFormat(undefined, { month: 'short' }).format(d);
      case '%B': return new Intl.DateTimeFormat(undefined, { month: 'long' }).format(d);
      case '%H': return pad(d.getHours());
      case '%M': return pad(d.getMinutes());
      default: return '%';
    }
  });
}

/**
 * The part of @huggingface/jinja's `Interpreter` used here (its .d.ts imports its runtime types without a file
 * extension, which this project's module resolution cannot follow, so they are restated).
 */
type InterpreterClass = new (env: Environment) => {
  evaluate(statement: unknown, environment: Environment): unknown;
  run(program: unknown): { value: unknown };
};

/** Thrown inside the interpreter when a rendering exceeds its budget. */
class BudgetExceeded extends Error {}

/**
 * The @huggingface/jinja interpreter with a work budget: every evaluated node costs STEP_COST plus the size of
 * the string or list it yields (so building a long text costs its length, and a loop its iterations, since a
 * `for` evaluates its list each time it runs).
 * Every construct of the language (loops, macros, filters, blocks) goes through `evaluate`, so one check here
 * bounds them all.
 */
class BudgetedInterpreter extends (Interpreter as unknown as InterpreterClass) {
  private left: number;
  constructor(env: Environment, private readonly budget: number) {
    super(env);
    this.left = budget;
  }
  override evaluate(statement: unknown, environment: Environment): unknown {
    this.left -= STEP_COST;
    if (this.left < 0) throw new BudgetExceeded(`rendering exceeds its work budget of ${this.budget} (a loop or text without bound?)`);
    const v = super.evaluate(statement, environment);
    const inner = (v as { value?: unknown }).value;
    const size = typeof inner === 'string' ? inner.length : Array.isArray(inner) ? ITEM_COST * inner.length : 0;
    this.left -= size;
    if (this.left < 0) throw new BudgetExceeded(`rendering exceeds its work budget of ${this.budget} (a loop or text without bound?)`);
    return v;
  }
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
  const budget = options.maxRenderWork ?? DEFAULT_RENDER_BUDGET + inputCost(variables);
  // What `Template.render` does, with the globals of transformers (and of @huggingface/jinja's setupGlobals)
  // set here so that `range` is bounded, and the budgeted interpreter.
  const env = new Environment();
  const globals: Record<string, unknown> = {
    false: false, true: true, none: null, False: false, True: true, None: null,
    raise_exception: (msg: unknown) => {
      throw new Error(String(msg));
    },
    range: boundedRange,
    strftime_now: strftimeNow,
    ...variables,
  };
  try {
    for (const [k, v] of Object.entries(globals)) env.set(k, v);
    const out = new BudgetedInterpreter(env, budget).run(compiled.parsed).value;
    if (typeof out !== 'string') throw new Error('the template did not render to text');
    return out;
  } catch (e) {
    // `raise_exception(msg)` throws Error(msg); a stack overflow (deep macro recursion) is a RangeError.
    throw new TokenizerError(`chat_template: ${(e as Error).message}`);
  }
}
