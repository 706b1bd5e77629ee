/**
 * The dev-only oracle: `@anush008/tokenizers`, a napi binding of Rust `tokenizers` 0.22 (the engine of Python
 * `transformers`). Specs compare our ids and text against it in batches.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

interface RustEncoding {
  getIds(): number[];
}
/** The part of the binding's Tokenizer we use. */
export interface RustTokenizer {
  encode(s: string, pair: null, o: { addSpecialTokens: boolean }): Promise<RustEncoding>;
  encodeBatch(s: string[], o: { addSpecialTokens: boolean }): Promise<RustEncoding[]>;
  decode(ids: number[], skip: boolean): Promise<string>;
  decodeBatch(ids: number[][], skip: boolean): Promise<string[]>;
}
interface RustTokenizerClass {
  fromFile(p: string): RustTokenizer;
  fromString(s: string): RustTokenizer;
}

/** The binding's Tokenizer class. */
export const Rust: RustTokenizerClass = (require('@anush008/tokenizers') as { Tokenizer: RustTokenizerClass }).Tokenizer;

/** The repository root (spec/tokenizer/ is two levels down). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Falcon's tokenizer.json in the shared read-only data. */
export const FALCON_JSON = path.resolve(REPO_ROOT, '../shared/tokenizers/falcon/tokenizer.json');
/** llama.cpp's Falcon vocab tests. */
export const LLAMACPP_DIR = path.resolve(REPO_ROOT, '../shared/tokenizers/falcon/llamacpp-tests');

/** Encode many strings with the oracle, in chunks (one batch call each). */
export async function oracleEncode(t: RustTokenizer, texts: string[], addSpecialTokens = false, chunk = 2000): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < texts.length; i += chunk) {
    const encs = await t.encodeBatch(texts.slice(i, i + chunk), { addSpecialTokens });
    for (const e of encs) out.push(e.getIds());
  }
  return out;
}

/** Decode many id lists with the oracle, in chunks. */
export async function oracleDecode(t: RustTokenizer, ids: number[][], skip: boolean, chunk = 2000): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i += chunk) out.push(...(await t.decodeBatch(ids.slice(i, i + chunk), skip)));
  return out;
}

/** Compare two id lists. */
export function sameIds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
