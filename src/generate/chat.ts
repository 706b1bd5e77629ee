/**
 * A chat that keeps its recurrent state across turns and feeds only each new turn's tokens.
 *
 * A Mamba state is the whole memory of the past, so a conversation never needs re-reading: each turn, the
 * session renders the chat template for the whole history (as transformers' `apply_chat_template` would) and
 * checks that this rendering *extends* the text already in the state (the previous rendering + the generated
 * reply). If it does, only the new suffix is encoded and fed (plus the reply's last token, which generation
 * leaves unfed). If it does not — the template rewrites earlier turns, a stop string cut the reply, the state
 * was lost to an abort — the session re-prefills the whole rendering (from the cached system-prompt state when
 * that still prefixes it) and says so in {@link ChatSession.lastTurn}.
 *
 * The system prompt is rendered and prefilled once ({@link ChatSession.prime}) and that state is cloned for
 * every re-prefill and {@link ChatSession.reset}: prompt caching.
 */
import type { ChatMessage } from '../tokenizer/chat.ts';
import { renderChatTemplate } from '../tokenizer/chat.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { InputError } from '../errors.ts';
import type { Model, ModelState } from '../model.ts';
import { cloneState, decodeState, saveState } from '../state.ts';
import { Generation, generateTextFromIds, type GenerateOptions, type GenerationSummary, type TextEvent } from './generate.ts';

/** The tokenizer and template a chat needs; the `TokenizerFiles` of `loadTokenizerFiles(dir)` fit. */
export interface ChatTokenizer {
  /** Encodes the rendered history, decodes the reply. */
  tokenizer: Tokenizer;
  /** The Jinja chat template (undefined: see {@link ChatSessionOptions.fallback}). */
  chatTemplate?: string;
  /** The template's `bos_token` variable. */
  bosToken?: string;
  /** The template's `eos_token` variable. */
  eosToken?: string;
}

/** Options of a {@link ChatSession}: generation defaults for every turn, and the conversation's setup. */
export interface ChatSessionOptions extends Omit<GenerateOptions, 'state' | 'history'> {
  /** A system prompt, prefilled once and reused. */
  system?: string;
  /** Without a chat template, use the plain "User: …\nAssistant:" format instead of throwing. Default false. */
  fallback?: boolean;
}

/** How the last turn reached the model. */
export interface TurnInfo {
  /**
   * `incremental`: only the new tokens were fed on top of the kept state; `cached`: the turn started from the
   * cached system-prompt state; `full`: the whole rendering was prefilled from a fresh state.
   */
  mode: 'incremental' | 'cached' | 'full';
  /** True when a conversation state existed but could not be extended, so the history was prefilled again. */
  reprefilled: boolean;
  /** Why the state was not extended (when `reprefilled`). */
  reason?: string;
  /** Ids fed by this turn's prefill. */
  fedTokens: number;
  /** Ids already in the state that this turn reused. */
  reusedTokens: number;
  /** The generation's summary (finish reason, speed). */
  summary?: GenerationSummary;
}

/** What {@link ChatSession.save} stores beside the state. */
interface SavedChat {
  kind: 'falcon-mamba-chat';
  version: 1;
  messages: ChatMessage[];
  text: string;
  tokens: number[];
  pending: number | null;
  hasState: boolean;
}

/** A multi-turn chat over one model, keeping the recurrent state between turns. */
export class ChatSession {
  /** The conversation so far (system, user and assistant messages). */
  messages: ChatMessage[] = [];
  /** The last turn's {@link TurnInfo}. */
  lastTurn: TurnInfo | undefined;
  private state: ModelState | null = null;
  /** The text the state (+ pending token) stands for: a rendering of the history, then the reply. */
  private text = '';
  /** Every id in the state, then the pending one. */
  private ids: number[] = [];
  private pending: number | null = null;
  private systemCache: { text: string; ids: number[]; state: ModelState } | null = null;
  /** A turn was sent and has not ended (not yet iterated, or running). */
  private pendingTurn = false;
  /** Why the state was dropped (an interrupted turn), reported by the next turn. */
  private lost: string | undefined;

  /**
   * @param model any backend
   * @param chat the tokenizer and chat template (e.g. `await loadTokenizerFiles(dir)`)
   * @param options defaults for every turn (sampling, `maxTokens`, `eosTokenIds`, `stop`) and the system prompt
   */
  constructor(
    readonly model: Model,
    readonly chat: ChatTokenizer,
    readonly options: ChatSessionOptions = {},
  ) {
    if (options.system !== undefined) this.messages.push({ role: 'system', content: options.system });
  }

  /** The ids the state stands for, in order (then the reply's last token, not yet fed). */
  get tokens(): readonly number[] {
    return this.ids;
  }

  /** The current recurrent state (null before the first turn or after an interrupted prefill). */
  get currentState(): ModelState | null {
    return this.state;
  }

  /** Renders messages with the template (transformers `apply_chat_template(..., tokenize=False)`). */
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    return renderChatTemplate(this.chat.chatTemplate, messages, {
      addGenerationPrompt,
      bosToken: this.chat.bosToken,
      eosToken: this.chat.eosToken,
      fallback: this.options.fallback,
    });
  }

  /**
   * Prefills the system prompt once (prompt caching); later turns and {@link reset} start from a copy.
   * Called by the first {@link send}; call it early to pay the cost up front. A no-op without a system prompt
   * or when the template cannot render a system message alone.
   */
  async prime(): Promise<void> {
    if (this.systemCache || this.options.system === undefined) return;
    let text: string;
    try {
      text = this.render([{ role: 'system', content: this.options.system }], false);
    } catch {
      return; // e.g. a template that insists on a user turn: no cache, turns prefill from scratch
    }
    const ids = this.chat.tokenizer.encode(text);
    if (ids.length === 0) return;
    const state = this.model.createState();
    for (let at = 0; at < ids.length; at += 512) await this.model.prefill(state, ids.slice(at, at + 512));
    this.systemCache = { text, ids, state };
  }

  /** Forgets the conversation (keeps the system prompt and its cached state). @throws InputError while a turn has not ended */
  reset(): void {
    this.checkIdle('reset');
    this.messages = this.options.system !== undefined ? [{ role: 'system', content: this.options.system }] : [];
    this.state = null;
    this.text = '';
    this.ids = [];
    this.pending = null;
    this.lastTurn = undefined;
    this.lost = undefined;
  }

  /**
   * Sends a user message; iterate the result for the reply's `{ token, text }`. When the iteration ends the
   * user message and the reply are in {@link messages} and the state holds the whole conversation.
   * One turn at a time: until this turn's iteration has ended (or been broken out of), `send`, `reset` and
   * `restore` throw an InputError.
   * @param options overrides of the session's options for this turn
   */
  send(content: string, options: Omit<GenerateOptions, 'state' | 'history'> = {}): Generation<TextEvent> {
    // One turn at a time, checked here and not when the turn starts: two sends before either is iterated would
    // both render the same history and the later to end would drop the other's messages.
    this.checkIdle('send');
    if (typeof content !== 'string') throw new InputError(`send: content must be a string, got ${content === null ? 'null' : typeof content}`);
    this.pendingTurn = true;
    return new Generation<TextEvent>((publish) => this.turn(content, { ...this.options, ...options }, publish));
  }

  /** Refuses to change the conversation while a sent turn has not ended. */
  private checkIdle(what: string): void {
    if (this.pendingTurn) {
      throw new InputError(`${what}: the previous send() has not ended yet; iterate its reply to the end (or break out of the loop) first`);
    }
  }

  private async *turn(content: string, o: GenerateOptions & { system?: string; fallback?: boolean }, publish: (s: GenerationSummary) => void): AsyncGenerator<TextEvent, GenerationSummary> {
    try {
      await this.prime();
      const tok = this.chat.tokenizer;
      const messages: ChatMessage[] = [...this.messages, { role: 'user', content }];
      const full = this.render(messages, true);

      let state: ModelState;
      let feed: number[];
      let before: number[];
      let info: TurnInfo;
      if (this.state && full.startsWith(this.text)) {
        state = this.state;
        const fresh = tok.encode(full.slice(this.text.length));
        feed = this.pending === null ? fresh : [this.pending, ...fresh];
        before = this.ids.slice(0, this.ids.length - (this.pending === null ? 0 : 1));
        info = { mode: 'incremental', reprefilled: false, fedTokens: feed.length, reusedTokens: before.length };
      } else {
        const reason = this.state
          ? 'the rendered history does not extend the text in the state (a stop string cut the reply, the reply held a special token, or the template rewrites earlier turns)'
          : this.lost;
        this.lost = undefined;
        const sys = this.systemCache;
        if (sys && full.startsWith(sys.text)) {
          state = cloneState(sys.state);
          feed = tok.encode(full.slice(sys.text.length));
          before = [...sys.ids];
          info = { mode: 'cached', reprefilled: reason !== undefined, reason, fedTokens: feed.length, reusedTokens: before.length };
        } else {
          state = this.model.createState();
          feed = tok.encode(full);
          before = [];
          info = { mode: 'full', reprefilled: reason !== undefined, reason, fedTokens: feed.length, reusedTokens: 0 };
        }
      }
      // From here the old state is being advanced: if this turn does not finish, the next one starts over.
      this.state = null;
      this.lastTurn = info;

      const gen = generateTextFromIds(this.model, tok, feed, { ...o, state, history: before });
      let reply = '';
      try {
        for await (const e of gen) {
          if (gen.summary) publish(gen.summary);
          reply += e.text;
          yield e;
        }
      } finally {
        const s = gen.summary;
        if (s) info.summary = s;
        // Every prompt id reached the state once a token was generated; the state is then whole again.
        if (s && s.tokens.length > 0) {
          const generatedText = tok.decode(s.tokens, { skipSpecialTokens: false });
          this.messages = [...messages, { role: 'assistant', content: reply }];
          this.state = state;
          this.text = full + generatedText;
          this.ids = [...before, ...feed, ...s.tokens];
          this.pending = s.pendingToken;
        } else {
          this.text = '';
          this.ids = [];
          this.pending = null;
          this.lost = 'the previous turn was interrupted before it generated a token';
        }
      }
      return gen.summary!;
    } finally {
      this.pendingTurn = false;
    }
  }

  /**
   * The conversation as bytes: the state (src/state.ts format) with the messages and token ids as metadata.
   * Restore with {@link restore} on a session over the same model.
   */
  save(): Uint8Array {
    const meta: SavedChat = {
      kind: 'falcon-mamba-chat', version: 1, messages: this.messages, text: this.text, tokens: this.ids, pending: this.pending, hasState: this.state !== null,
    };
    return saveState(this.model.config, this.state ?? this.model.createState(), meta);
  }

  /**
   * Replaces the conversation by one saved with {@link save}.
   * @throws InputError when the bytes are not a saved chat of a model of this shape, or while a turn has not ended
   */
  restore(bytes: Uint8Array): void {
    this.checkIdle('restore');
    const { state, metadata } = decodeState(this.model.config, bytes);
    const m = metadata as Partial<SavedChat> | undefined;
    if (!m || m.kind !== 'falcon-mamba-chat' || m.version !== 1 || !Array.isArray(m.messages) || typeof m.text !== 'string' || !Array.isArray(m.tokens)) {
      throw new InputError('this saved state is not a chat session (save one with ChatSession.save or /save in `falcon-mamba chat`)');
    }
    // Every field is checked now, so a tampered file fails here and not a turn later.
    const V = this.model.config.vocabSize;
    const isId = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0 && (x as number) < V;
    const bad = (field: string): never => {
      throw new InputError(`this saved chat has an invalid "${field}"`);
    };
    m.messages.forEach((msg, i) => {
      const o = msg as unknown as Record<string, unknown>;
      if (o === null || typeof o !== 'object' || typeof o.role !== 'string' || typeof o.content !== 'string') bad(`messages[${i}]`);
    });
    if (typeof m.hasState !== 'boolean') bad('hasState');
    if (!m.tokens.every(isId)) bad('tokens');
    if (m.pending !== null && m.pending !== undefined && !isId(m.pending)) bad('pending');
    this.messages = m.messages;
    this.text = m.hasState ? m.text : '';
    this.ids = m.hasState ? m.tokens : [];
    this.pending = m.hasState ? (m.pending ?? null) : null;
    this.state = m.hasState ? state : null;
    this.lastTurn = undefined;
  }
}
