/**
 * Generation, sampling, chat sessions and state save/restore: the public API of src/generate/ and
 * src/state.ts (re-exported by src/index.ts). See docs/generation.md.
 */
export {
  generate,
  generateIds,
  generateTextFromIds,
  Generation,
  findStop,
  stopHoldback,
  type FinishReason,
  type GenerateIdsOptions,
  type GenerateOptions,
  type GenerationSummary,
  type TokenEvent,
  type TextEvent,
} from './generate.ts';
export {
  applyMinP,
  applyRepetitionPenalty,
  applyTemperature,
  applyTopK,
  applyTopP,
  argmax,
  randomSeed,
  sampleFromLogits,
  sampleToken,
  samplerOptionsProblem,
  xoshiro128ss,
  type Random,
  type SamplerOptions,
} from './sampler.ts';
export { loadGenerationConfig, parseGenerationConfig, samplerDefaults, type GenerationConfig } from './config.ts';
export { ChatSession, type ChatSessionOptions, type ChatTokenizer, type TurnInfo } from './chat.ts';
export {
  saveState,
  loadState,
  decodeState,
  cloneState,
  configFingerprint,
  stateBytes,
  STATE_MAGIC,
  STATE_FORMAT_VERSION,
  type DecodedState,
} from '../state.ts';
