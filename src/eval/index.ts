/**
 * Evaluation: perplexity (one streaming pass, or llama-perplexity's windows), KL divergence against saved top-k
 * log-probabilities, and multiple-choice scoring with lm-evaluation-harness semantics (docs/eval.md). Every
 * function sees only the `Model` interface and the `Tokenizer`, holds a bounded chunk of rows of logits at a time, takes an
 * AbortSignal and reports progress.
 */
export { nextTokenNll, rowStats, NllAccumulator, type NllResult, type RowStats, type NllSummary } from './nll.ts';
export { perplexity, type PerplexityOptions, type PerplexityProgress, type PerplexityResult } from './perplexity.ts';
export {
  encodeTopK,
  decodeTopK,
  allocTopK,
  recordTopK,
  KldAccumulator,
  LOGPROBS_FORMAT_VERSION,
  MAX_TOP_K,
  type TopKLogProbs,
  type LogProbsHeader,
  type EvalMode,
  type KldSummary,
} from './logprobs.ts';
export { scoreTasks, encodePair, type EncodedPair, type ChoiceTask, type ChoiceScore, type TaskScore, type ScoreOptions, type ScoreResult } from './choice.ts';
export { DEFAULT_ROW_CHUNK, type FeedOptions } from './feed.ts';
