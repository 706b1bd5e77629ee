/**
 * `loadModel(dir, options)`: an HF model folder → a {@link Model} on the chosen backend.
 */
import { availableParallelism } from 'node:os';
import { Checkpoint } from './io/checkpoint.ts';
import { resolveLoadOptions, type LoadOptions, type Model } from './model.ts';
import { loadReferenceWeights, ReferenceModel } from './reference/model.ts';

export { DEFAULT_BACKEND } from './model.ts';

/**
 * Loads a FalconMamba / Mamba-1 model from an HF model folder (`config.json` + safetensors).
 * @throws InputError for an option out of range (src/model.ts `resolveLoadOptions`), ConfigError /
 * CheckpointError naming the file, tensor or field at fault.
 */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<Model> {
  const resolved = resolveLoadOptions(options, availableParallelism());
  const ckpt = await Checkpoint.open(dir);
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
  return loadWasmModel(ckpt, options);
}
