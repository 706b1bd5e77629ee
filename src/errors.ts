/**
 * Typed errors. The library throws; only the CLI decides how to print them and which exit code to use.
 * Every message names the file, tensor or field at fault.
 */

/** Base class of every error this library throws on bad input. */
export class FalconMambaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A `config.json` (or `generation_config.json`) that is missing, not JSON, or has an invalid field. */
export class ConfigError extends FalconMambaError {}

/** A safetensors file or index that is truncated, hostile, or does not match the model's expected tensors. */
export class CheckpointError extends FalconMambaError {}

/** A `tokenizer.json` / `tokenizer_config.json` that cannot be used, or bad input to encode/decode. */
export class TokenizerError extends FalconMambaError {}

/** Bad arguments to a model call: an unknown token id, a state from another model, bad state bytes. */
export class InputError extends FalconMambaError {}
