/**
 * Reading the small files of a model folder (config.json, the index, tokenizer files, generation_config.json,
 * saved states): only regular files, and never more than a stated number of bytes.
 *
 * A model folder is untrusted. `readFile` on a FIFO waits forever for a writer, on `/dev/zero` reads until
 * memory runs out, and on a directory fails with a bare EISDIR; here each becomes one error naming the path.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { FalconMambaError } from '../errors.ts';

/** Default cap of {@link readTextFile}: 16 MiB (a 7B config is 1 KB, its index 30 KB). */
export const MAX_SMALL_FILE_BYTES = 16 << 20;

/** An error class of src/errors.ts, chosen by the caller so the error says which kind of file failed. */
type ErrorClass = new (message: string) => FalconMambaError;

/** Options of {@link readFileBytes}. */
export interface ReadFileOptions {
  /** Largest size accepted, in bytes (default {@link MAX_SMALL_FILE_BYTES}). */
  maxBytes?: number;
  /** Return `undefined` when the file does not exist, instead of throwing. */
  optional?: boolean;
  /** What to say the file is, in messages ("config file", "saved state"). */
  what?: string;
}

/** `code` of a Node fs error, for messages: "ENOENT", "EACCES", … */
function codeOf(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);
}

/**
 * The bytes of a regular file of at most `maxBytes`.
 * @throws `Err` naming the path: not a regular file (a directory, FIFO, device), larger than the cap, or
 *   unreadable (with the errno code); a missing file too unless `optional`
 */
export async function readFileBytes(path: string, Err: ErrorClass, options: ReadFileOptions = {}): Promise<Uint8Array | undefined> {
  const max = options.maxBytes ?? MAX_SMALL_FILE_BYTES;
  const what = options.what ?? 'file';
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Err(`${path}: not a regular file (${s.isDirectory() ? 'a directory' : s.isFIFO() ? 'a FIFO' : 'a device or socket'}); expected a ${what}`);
    size = s.size;
  } catch (e) {
    if (e instanceof FalconMambaError) throw e;
    // ENOTDIR: the path's folder is a file (a model given as one .gguf file): an optional file beside it is absent.
    if (options.optional && (codeOf(e) === 'ENOENT' || codeOf(e) === 'ENOTDIR')) return undefined;
    throw new Err(`${path}: cannot read the ${what} (${codeOf(e)})`);
  }
  if (size > max) throw new Err(`${path}: ${size} bytes is over the ${max}-byte limit for a ${what}`);
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new Err(`${path}: cannot read the ${what} (${codeOf(e)})`);
  }
  try {
    // Read at most max + 1 bytes whatever stat said (the file may grow, or be a /proc file of size 0).
    return await readAll(fh, new Uint8Array(Math.min(max + 1, Math.max(size, 4096))), path, max, what, Err);
  } catch (e) {
    if (e instanceof FalconMambaError) throw e;
    throw new Err(`${path}: cannot read the ${what} (${codeOf(e)})`);
  } finally {
    await fh.close();
  }
}

async function readAll(fh: FileHandle, buf: Uint8Array, path: string, max: number, what: string, Err: ErrorClass): Promise<Uint8Array> {
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      if (buf.length > max) throw new Err(`${path}: over the ${max}-byte limit for a ${what}`);
      const bigger = new Uint8Array(Math.min(max + 1, buf.length * 2));
      bigger.set(buf);
      buf = bigger;
    }
    const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
    if (bytesRead === 0) return buf.subarray(0, n);
    n += bytesRead;
  }
}

/** {@link readFileBytes} as UTF-8 text. */
export async function readTextFile(path: string, Err: ErrorClass, options: ReadFileOptions = {}): Promise<string | undefined> {
  const bytes = await readFileBytes(path, Err, options);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}
