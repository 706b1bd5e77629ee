/**
 * Streaming decode: turn ids into text one at a time, as a generator produces them, without ever emitting half a
 * UTF-8 character. The concatenation of everything {@link StreamDecoder.push} and {@link StreamDecoder.flush}
 * return equals `tokenizer.decode(allIds, options)`.
 *
 * Why it is needed: with byte-level BPE one character can span several tokens (`"в"` is `Ð` + `²`), so decoding
 * token by token would print U+FFFD in the middle of the word.
 *
 * How: for a ByteLevel decoder (Falcon, GPT-2, GPT-NeoX) each id maps to a fixed byte string and the text is the
 * lossy UTF-8 decoding of all bytes, so a streaming `TextDecoder` gives exactly the same characters, holding back
 * an incomplete sequence until the next byte arrives (WHATWG streaming decode equals one-shot decode, and both
 * equal Rust's `from_utf8_lossy`). Other decoders (Metaspace, ByteFallback…) may look at neighbouring tokens, so
 * there the whole sequence is re-decoded on each push (O(n²), fine for chat-length outputs) and only a stable new
 * suffix is emitted: text ending in U+FFFD is held back, because the next token may complete it.
 */
import type { DecodeOptions, Tokenizer } from './tokenizer.ts';


/** Incremental, UTF-8-safe decoder of one sequence of ids. */
export class StreamDecoder {
  private readonly tokenizer: Tokenizer;
  private readonly skip: boolean;
  private utf8: InstanceType<typeof TextDecoder>;
  /** Generic path only: all ids so far and the length of the text already emitted. */
  private ids: number[] = [];
  private emitted = 0;

  /**
   * @param tokenizer the tokenizer whose ids will be pushed
   * @param options the same options as {@link Tokenizer.decode} (`skipSpecialTokens`)
   */
  constructor(tokenizer: Tokenizer, options: DecodeOptions = {}) {
    this.tokenizer = tokenizer;
    this.skip = options.skipSpecialTokens === true;
    this.utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  }

  /**
   * Add one id; returns the text that became complete (often `""`).
   * @throws TokenizerError on an unknown id
   */
  push(id: number): string {
    const bytes = this.tokenizer.tokenBytes(id, this.skip);
    if (bytes !== null) return this.utf8.decode(bytes, { stream: true });
    this.tokenizer.decode([id]); // throws on an unknown id before it joins the sequence
    this.ids.push(id);
    const text = this.tokenizer.decode(this.ids, { skipSpecialTokens: this.skip });
    if (text.endsWith('\ufffd') || text.length <= this.emitted) return '';
    const out = text.slice(this.emitted);
    this.emitted = text.length;
    return out;
  }

  /** End of the sequence: returns the held-back rest (an incomplete character becomes U+FFFD) and resets. */
  flush(): string {
    let out: string;
    if (this.ids.length > 0) {
      const text = this.tokenizer.decode(this.ids, { skipSpecialTokens: this.skip });
      out = text.slice(this.emitted);
    } else out = this.utf8.decode();
    this.ids = [];
    this.emitted = 0;
    this.utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    return out;
  }
}
