/**
 * A model folder with a tokenizer for generation and CLI specs, built in a temp dir (never in the repo):
 * the shared golden model (falcon-tiny-bf16, vocab 65024) + the Falcon tokenizer.json + a small chat template
 * over Falcon's own special tokens (>>INTRODUCTION<<, >>QUESTION<<, >>ANSWER<<, <|endoftext|>), so that every
 * turn boundary is a special token.
 */
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED } from '../helpers/goldens.ts';

export const SHARED_MODEL = join(SHARED, 'goldens', 'falcon-tiny-bf16', 'model');
export const SHARED_GOLDENS = join(SHARED, 'goldens', 'falcon-tiny-bf16', 'goldens.json');
export const FALCON_TOKENIZER = join(SHARED, 'tokenizers', 'falcon', 'tokenizer.json');

/** The chat template of the temp folder. */
export const TEST_CHAT_TEMPLATE =
  "{% for m in messages %}{% if m.role == 'system' %}>>INTRODUCTION<<{{ m.content }}" +
  "{% elif m.role == 'user' %}>>QUESTION<<{{ m.content }}{% else %}>>ANSWER<<{{ m.content }}{{ eos_token }}{% endif %}{% endfor %}" +
  '{% if add_generation_prompt %}>>ANSWER<<{% endif %}';

/** Whether the shared model and tokenizer exist (they are in ../shared). */
export const HAVE_SHARED = existsSync(SHARED_MODEL) && existsSync(FALCON_TOKENIZER);

/**
 * Copies the shared model + tokenizer into a new temp folder and returns its path.
 * @param generationConfig replaces generation_config.json when given
 */
export function makeTokenizedModel(generationConfig?: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fm-gen-'));
  for (const f of readdirSync(SHARED_MODEL)) {
    copyFileSync(join(SHARED_MODEL, f), join(dir, f));
    chmodSync(join(dir, f), 0o644); // the shared files are read-only; the copies may be replaced
  }
  copyFileSync(FALCON_TOKENIZER, join(dir, 'tokenizer.json'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>', chat_template: TEST_CHAT_TEMPLATE }));
  if (generationConfig) writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(generationConfig));
  return dir;
}

/** Removes temp folders. */
export function removeDirs(dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
