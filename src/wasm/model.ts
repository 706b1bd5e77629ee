// The wasm backend lands with issue 4 (kernels); until then asking for it is a clear error.
import type { Checkpoint } from '../io/checkpoint.ts';
import { InputError } from '../errors.ts';
import type { LoadOptions, Model } from '../model.ts';

export async function loadWasmModel(_ckpt: Checkpoint, _options: LoadOptions): Promise<Model> {
  throw new InputError('the wasm backend is not available yet');
}
