/**
 * The oracle's trace: every named intermediate of one forward pass (docs/oracle.md), as an ordered list of
 * tensors. Names, order and shapes: src/oracle/names.ts.
 */
import { InputError } from '../errors.ts';
import type { Model } from '../model.ts';

/** One named tensor of a trace: float32 values, row-major, with their shape. */
export interface TraceTensor {
  /** Name from src/oracle/names.ts, e.g. `layers.3.mixer.conv1d.pre_silu`. */
  name: string;
  /** Shape in glossary units, e.g. [L, E]. */
  shape: number[];
  /** The values, row-major; owned by this tensor (not a view into the model). */
  data: Float32Array;
}

/**
 * Runs `ids` through `model` from a fresh state and records every intermediate its {@link Model.trace}
 * reports, in the order reported (forward order), copying each value (hooks receive views).
 * @throws InputError when the model's backend cannot trace, or it reports a name twice or a shape that
 *   does not match the value's length
 */
export async function traceForward(model: Model, ids: ArrayLike<number>): Promise<TraceTensor[]> {
  if (typeof model.trace !== 'function') {
    throw new InputError(
      `the ${model.backend} backend cannot trace (its Model has no trace method); use --backend reference`,
    );
  }
  const out: TraceTensor[] = [];
  const seen = new Set<string>();
  await model.trace(ids, (name, value, shape) => {
    if (seen.has(name)) throw new InputError(`trace: the ${model.backend} backend reported "${name}" twice`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== value.length) {
      throw new InputError(`trace: "${name}" has ${value.length} values but shape [${shape.join(', ')}]`);
    }
    seen.add(name);
    out.push({ name, shape: [...shape], data: value.slice() });
  });
  return out;
}
