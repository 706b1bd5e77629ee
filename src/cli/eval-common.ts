/**
 * What the `perplexity` and `score` commands share: Ctrl-C as an AbortSignal, a counting progress bar on stderr
 * (when it is a terminal) with a running value, and the BOS rule of a tokenizer's config.
 */
import process from 'node:process';
import type { TokenizerFiles } from '../tokenizer/files.ts';

/** An AbortController that the first Ctrl-C aborts; `done()` removes the handler. */
export function interruptSignal(): { signal: AbortSignal; done(): void } {
  const ac = new AbortController();
  const onSigint = () => ac.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  return { signal: ac.signal, done: () => process.removeListener('SIGINT', onSigint) };
}

/** A progress bar `label |bar| done/total  extra` on stderr, or a no-op when stderr is not a terminal. */
export async function countBar(label: string): Promise<{ update(done: number, total: number, extra: string): void; stop(): void }> {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${label} |{bar}| {value}/{total} {extra} ETA {eta_formatted}`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, extra) {
      if (!started) {
        bar.start(total, 0, { extra });
        started = true;
      }
      bar.update(done, { extra });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/**
 * Whether the tokenizer starts a text with BOS: tokenizer_config.json's `add_bos_token` when present, else whether
 * the tokenizer.json post-processor puts the BOS id first. (llama.cpp reads the same fact from the GGUF's
 * `tokenizer.ggml.add_bos_token`.)
 */
export function addsBos(files: TokenizerFiles): boolean {
  if (files.bosTokenId === undefined) return false;
  if (files.addBosToken !== undefined) return files.addBosToken;
  const ids = files.tokenizer.encode('a', { addSpecialTokens: true });
  return ids.length > 1 && ids[0] === files.bosTokenId;
}

/** A text's ids as the tokenizer's config says: BOS first when {@link addsBos}, no other special tokens. */
export function encodeText(files: TokenizerFiles, text: string): { ids: number[]; bos?: number } {
  const ids = files.tokenizer.encode(text);
  return addsBos(files) ? { ids: [files.bosTokenId!, ...ids], bos: files.bosTokenId } : { ids };
}
