/**
 * `loadModel(dir, options)`: an HF model folder → a {@link Model} on the chosen backend.
 */
import { Checkpoint } from './io/checkpoint.ts';
import { InputError } from './errors.ts';
import type { LoadOptions, Model } from './model.ts';
import { loadReferenceWeights, ReferenceModel } from './reference/model.ts';

/** The backend used when `options.backend` is not given. */
export const DEFAULT_BACKEND = 'wasm';

/**
 * Loads a FalconMamba / Mamba-1 model from an HF model folder (`config.json` + safetensors).
 * @throws ConfigError / CheckpointError naming the file, tensor or field at fault.
 */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<Model> {
  const backend = options.backend ?? DEFAULT_BACKEND;
  const ckpt = await Checkpoint.open(dir);
  if (backend === 'reference') {
    const dtype = options.dtype ?? 'auto';
    if (dtype !== 'auto' && dtype !== 'f32') {
      throw new InputError(`the reference backend computes in f32; dtype "${dtype}" needs backend "wasm"`);
    }
    const total = ckpt.totalBytes;
    let loaded = 0;
    const weights = await loadReferenceWeights(ckpt, (tensor, bytes) => {
      loaded += bytes;
      options.onProgress?.({ loadedBytes: loaded, totalBytes: total, tensor });
    });
    return new ReferenceModel(ckpt.config, weights);
  }
  if (backend === 'wasm') {
    const { loadWasmModel } = await import('./wasm/model.ts');
    return loadWasmModel(ckpt, options);
  }
  throw new InputError(`unknown backend ${JSON.stringify(backend)} (expected "reference" or "wasm")`);
}
