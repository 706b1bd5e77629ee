/**
 * falcon-mamba: FalconMamba-7B and any Mamba-1 checkpoint on the CPU, exact against Hugging Face transformers.
 * The public API; this file only re-exports.
 * @packageDocumentation
 */
export { loadModel, DEFAULT_BACKEND } from './load.ts';
export type { Model, ModelState, Backend, WeightDType, LoadOptions, LoadProgress, TraceHook, CallOptions, PrefillOptions } from './model.ts';
export { YIELD_MS, REFERENCE_CHUNK, MAX_ALL_LOGITS_FLOATS, MAX_THREADS } from './model.ts';
export { parseConfig, type ModelConfig, type ModelType } from './config.ts';
export { Checkpoint, expectedTensors } from './io/checkpoint.ts';
export { readSafetensorsHeader, encodeSafetensors, type DType, type TensorInfo, type SafetensorsHeader, type TensorToWrite } from './io/safetensors.ts';
export { GgufCheckpoint, isGgufPath, type GgufOptions, type GgufWeightInfo } from './io/gguf-checkpoint.ts';
export { readGgufHeader, MAX_GGUF_HEADER_BYTES, type GgufHeader, type GgufTensorInfo, type GgufValue, type GgufArray, type GgmlType } from './io/gguf.ts';
export { loadModelTokenizer, ggufTokenizerFiles } from './tokenizer/gguf.ts';
export { FalconMambaError, ConfigError, CheckpointError, TokenizerError, InputError } from './errors.ts';
export { ReferenceModel, type Weights, type LayerWeights } from './reference/model.ts';
export * as ops from './reference/ops.ts';
export * from './tokenizer/index.ts';
export * from './generate/index.ts';
export * from './oracle/index.ts';
export * from './eval/index.ts';
export * from './server/index.ts';
