/**
 * The tokenizer package: HF tokenizer.json → {@link Tokenizer}, streaming decode, chat templates, and the loader
 * for a model folder's tokenizer files. See docs/tokenizer.md.
 */
export { Tokenizer, type EncodeOptions, type DecodeOptions, type TokenizerOptions } from './tokenizer.ts';
export { StreamDecoder } from './stream.ts';
export { renderChatTemplate, plainChatPrompt, DEFAULT_RENDER_BUDGET, STEP_COST, ITEM_COST, type ChatMessage, type ChatTemplateOptions } from './chat.ts';
export { loadTokenizerFiles, applyChatTemplate, type TokenizerFiles } from './files.ts';
export type { AddedToken } from './added.ts';
