/**
 * Golden cases made by Hugging Face transformers (fixtures/make_fixtures.py, and the public set in
 * ../shared/goldens), normalized to one shape for the specs of every backend.
 *
 * Format 1 (../shared/goldens/*): seqs[] = {ids, argmax, greedy16, last_logits_file} (the last position only).
 * Format 2 (fixtures/goldens/<case>.json): seqs[] = {ids, argmax, greedy16, last_logits: {file, positions}}.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = resolve(REPO, '../shared');

export interface GoldenSeq {
  ids: number[];
  argmax: number[];
  greedy16: number[];
  /** Positions whose logits are recorded, and the logits (positions.length, V). */
  positions: number[];
  logits: Float32Array;
}

export interface GoldenCase {
  name: string;
  modelDir: string;
  storageDtype: string;
  seqs: GoldenSeq[];
  raw: Record<string, any>;
}

const SUPPORTED_FORMATS = [1, 2];
const REGENERATE = 'python3 fixtures/make_fixtures.py --out fixtures   # on a machine with torch + transformers 5.17';

function f32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function check(raw: Record<string, any>, file: string) {
  if (!SUPPORTED_FORMATS.includes(raw.format)) {
    throw new Error(`${file}: golden format ${raw.format} is not one of ${SUPPORTED_FORMATS}; regenerate with: ${REGENERATE}`);
  }
}

/** Every golden case available: the shared public set and the project's fixtures. */
export function loadGoldenCases(): GoldenCase[] {
  const cases: GoldenCase[] = [];
  const sharedDir = join(SHARED, 'goldens');
  if (existsSync(sharedDir)) {
    for (const name of readdirSync(sharedDir)) {
      const file = join(sharedDir, name, 'goldens.json');
      if (!existsSync(file)) continue;
      const raw = JSON.parse(readFileSync(file, 'utf8'));
      check(raw, file);
      cases.push({
        name: `shared/${name}`,
        modelDir: join(sharedDir, name, 'model'),
        storageDtype: 'bfloat16',
        raw,
        seqs: raw.seqs.map((s: any) => ({
          ids: s.ids, argmax: s.argmax, greedy16: s.greedy16,
          positions: [s.ids.length - 1], logits: f32(join(sharedDir, name, s.last_logits_file)),
        })),
      });
    }
  }
  const fixDir = join(REPO, 'fixtures', 'goldens');
  if (existsSync(fixDir)) {
    for (const f of readdirSync(fixDir).filter((x) => x.endsWith('.json')).sort()) {
      const file = join(fixDir, f);
      const raw = JSON.parse(readFileSync(file, 'utf8'));
      check(raw, file);
      cases.push({
        name: raw.case,
        modelDir: resolve(REPO, raw.model),
        storageDtype: raw.storage_dtype,
        raw,
        seqs: raw.seqs.map((s: any) => ({
          ids: s.ids, argmax: s.argmax, greedy16: s.greedy16,
          positions: s.last_logits.positions, logits: f32(join(fixDir, s.last_logits.file)),
        })),
      });
    }
  }
  return cases;
}
