/**
 * Trace files: a standard safetensors file (readable by Python's `safetensors`), float32 tensors in forward
 * order, with string metadata:
 *
 * | key       | value |
 * |-----------|-------|
 * | `format`  | `"trace-1"` |
 * | `ids`     | the token ids, JSON list |
 * | `config`  | the model's config (its config.json when known), JSON |
 * | `backend` | what produced it (`reference`, `wasm`, `transformers`, a port's name) |
 *
 * plus any extra keys the caller gives. A port that writes this layout can be compared with `compare`.
 */
import { writeFile } from 'node:fs/promises';
import { InputError } from '../errors.ts';
import { encodeSafetensors, readSafetensorsHeader, readTensorBytes, toF32, type TensorToWrite } from '../io/safetensors.ts';
import { TRACE_FORMAT } from './names.ts';
import type { TraceTensor } from './trace.ts';

/** What a trace file says about how it was made. */
export interface TraceInfo {
  /** The token ids that were traced. */
  ids: readonly number[];
  /** The model's configuration (config.json as parsed, or the normalized ModelConfig). */
  config: unknown;
  /** What produced the trace. */
  backend?: string;
  /** More string metadata to store. */
  extra?: Record<string, string>;
}

/** A trace read back from a file. */
export interface Trace {
  /** The tensors, in the file's order (forward order for files this project writes). */
  tensors: TraceTensor[];
  /** All string metadata of the file. */
  metadata: Record<string, string>;
  /** `ids` from the metadata, or null when absent or not a JSON list. */
  ids: number[] | null;
  /** `config` from the metadata, parsed, or null. */
  config: Record<string, unknown> | null;
}

/**
 * Encodes a trace as safetensors bytes.
 * @throws InputError when a name repeats or a shape does not match its data
 */
export function encodeTrace(tensors: readonly TraceTensor[], info: TraceInfo): Uint8Array {
  const map = new Map<string, TensorToWrite>();
  for (const t of tensors) {
    if (map.has(t.name)) throw new InputError(`trace: tensor "${t.name}" appears twice`);
    if (t.shape.reduce((a, b) => a * b, 1) !== t.data.length) {
      throw new InputError(`trace: tensor "${t.name}" has ${t.data.length} values but shape [${t.shape.join(', ')}]`);
    }
    map.set(t.name, { shape: t.shape, data: t.data });
  }
  const metadata: Record<string, string> = {
    ...info.extra,
    format: TRACE_FORMAT,
    ids: JSON.stringify([...info.ids]),
    config: JSON.stringify(info.config ?? null),
  };
  if (info.backend !== undefined) metadata.backend = info.backend;
  return encodeSafetensors(map, metadata);
}

/** Writes a trace file (see the module comment for the layout). */
export async function writeTrace(path: string, tensors: readonly TraceTensor[], info: TraceInfo): Promise<void> {
  await writeFile(path, encodeTrace(tensors, info));
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * Reads a trace file: any safetensors file of F32 / BF16 / F16 tensors (widened to f32), e.g. one written
 * by {@link writeTrace}, by the fixtures script from transformers, or by another port.
 * @throws CheckpointError for a file that is not valid safetensors
 */
export async function readTrace(path: string): Promise<Trace> {
  const header = await readSafetensorsHeader(path);
  const infos = [...header.tensors.values()].sort((a, b) => a.start - b.start);
  const tensors: TraceTensor[] = [];
  for (const t of infos) tensors.push({ name: t.name, shape: [...t.shape], data: toF32(await readTensorBytes(t), t.dtype) });
  const ids = parseJson(header.metadata.ids);
  const config = parseJson(header.metadata.config);
  return {
    tensors,
    metadata: { ...header.metadata },
    ids: Array.isArray(ids) && ids.every((x) => Number.isInteger(x)) ? (ids as number[]) : null,
    config: typeof config === 'object' && config !== null && !Array.isArray(config) ? (config as Record<string, unknown>) : null,
  };
}
