/**
 * `loadModel(path, options)`: an HF model folder or a llama.cpp GGUF file → a {@link Model} on the chosen backend.
 */
import { availableParallelism } from 'node:os';
import { Checkpoint } from './io/checkpoint.ts';
import { GgufCheckpoint, isGgufPath } from './io/gguf-checkpoint.ts';
import { resolveLoadOptions, type LoadOptions, type Model } from './model.ts';
import { loadReferenceWeights, ReferenceModel } from './reference/model.ts';
import type { WasmModel } from './wasm/model.ts';

export { DEFAULT_BACKEND } from './model.ts';

/**
 * Loads a FalconMamba / Mamba-1 model from an HF model folder (`config.json` + safetensors) or a GGUF file (a path
 * ending in `.gguf`: config from its metadata; block-format weights are dequantized exactly as they are read).
 * The model is `AsyncDisposable`: `await using model = await loadModel(dir)` disposes it when the scope ends.
 * @throws InputError for an option out of range (src/model.ts `resolveLoadOptions`), ConfigError /
 * CheckpointError naming the file, tensor or field at fault.
 */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<Model & AsyncDisposable> {
  const resolved = resolveLoadOptions(options, availableParallelism());
  // A GGUF file has the same interface as a Checkpoint (src/io/gguf-checkpoint.ts); block formats read as f32.
  const ckpt = isGgufPath(dir) ? await GgufCheckpoint.open(dir, { mixerRmsEps: options.mixerRmsEps }) : await Checkpoint.open(dir);
  if (resolved.backend === 'reference') {
    const total = ckpt.totalBytes;
    let loaded = 0;
    const weights = await loadReferenceWeights(ckpt, (tensor, bytes) => {
      loaded += bytes;
      options.onProgress?.({ loadedBytes: loaded, totalBytes: total, tensor });
    });
    return new ReferenceModel(ckpt.config, weights);
  }
  const { loadWasmModel } = await import('./wasm/load.ts');
  return (await loadWasmModel(ckpt, options)) as WasmModel; // loadWasmModel makes a WasmModel
}
