/**
 * The BPE model (HF `tokenizers` src/models/bpe/model.rs): a vocabulary (token string → id) and a ranked list of
 * merges. A pre-token is split into characters, each looked up in the vocabulary, then the adjacent pair with the
 * lowest merge rank is merged, again and again, until no adjacent pair has a merge.
 *
 * Speed: merges live in an open-addressing hash table keyed by the packed pair of ids (no string concatenation
 * while merging); short words use a linear scan for the best pair, long words a binary heap over
 * (rank, position) with a linked list of symbols, the same order HF's `Word::merge_all` uses.
 */
import { TokenizerError } from '../errors.ts';

type Json = Record<string, unknown>;

/** Open-addressing hash map (pair of ids) → (rank, merged id), over typed arrays. */
class PairMap {
  private readonly a: Int32Array;
  private readonly b: Int32Array;
  private readonly rankOf: Int32Array;
  private readonly idOf: Int32Array;
  private readonly mask: number;

  constructor(capacity: number) {
    let size = 16;
    while (size < capacity * 2) size <<= 1;
    this.a = new Int32Array(size).fill(-1);
    this.b = new Int32Array(size);
    this.rankOf = new Int32Array(size);
    this.idOf = new Int32Array(size);
    this.mask = size - 1;
  }

  private slot(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 7;
  }

  /** Insert or overwrite (a later duplicate merge wins, as when HF collects merges into a HashMap). */
  set(a: number, b: number, rank: number, id: number): void {
    let i = this.slot(a, b) & this.mask;
    while (this.a[i] !== -1 && (this.a[i] !== a || this.b[i] !== b)) i = (i + 1) & this.mask;
    this.a[i] = a;
    this.b[i] = b;
    this.rankOf[i] = rank;
    this.idOf[i] = id;
  }

  /** Slot index of the pair, or -1. */
  find(a: number, b: number): number {
    let i = this.slot(a, b) & this.mask;
    for (;;) {
      const k = this.a[i];
      if (k === -1) return -1;
      if (k === a && this.b[i] === b) return i;
      i = (i + 1) & this.mask;
    }
  }

  rank(slot: number): number {
    return this.rankOf[slot];
  }

  id(slot: number): number {
    return this.idOf[slot];
  }
}

/** Words at most this long use the linear scan; longer ones the heap. */
const LINEAR_MAX = 48;

/** A loaded BPE model. */
export class BpeModel {
  /** token string → id */
  readonly vocab: Map<string, number>;
  /** id → token string (holes are `undefined`) */
  readonly tokens: (string | undefined)[];
  private readonly merges: PairMap;
  private readonly unkId: number;
  private readonly fuseUnk: boolean;
  private readonly byteFallback: boolean;
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly ignoreMerges: boolean;
  /** Scratch buffers for merging, grown on demand (per instance, never shared). */
  private ids: Int32Array = new Int32Array(64);
  private next: Int32Array = new Int32Array(64);
  private prev: Int32Array = new Int32Array(64);

  /**
   * @param cfg the tokenizer.json `model` object, `type: "BPE"`
   * @throws TokenizerError on a malformed vocabulary or merge, or on `dropout` (not deterministic)
   */
  constructor(cfg: Json) {
    const vocab = cfg.vocab;
    if (vocab === null || typeof vocab !== 'object' || Array.isArray(vocab)) throw new TokenizerError('model.vocab must be an object of token → id');
    this.vocab = new Map();
    this.tokens = [];
    for (const [tok, id] of Object.entries(vocab as Record<string, unknown>)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= 0x7fffffff) {
        throw new TokenizerError(`model.vocab: token ${JSON.stringify(tok)} has invalid id ${JSON.stringify(id)}`);
      }
      this.vocab.set(tok, id);
      this.tokens[id] = tok;
    }
    if (cfg.dropout !== null && cfg.dropout !== undefined && cfg.dropout !== 0) {
      throw new TokenizerError(`model.dropout ${JSON.stringify(cfg.dropout)} is unsupported (BPE dropout is random; use null)`);
    }
    this.prefix = typeof cfg.continuing_subword_prefix === 'string' ? cfg.continuing_subword_prefix : '';
    this.suffix = typeof cfg.end_of_word_suffix === 'string' ? cfg.end_of_word_suffix : '';
    this.fuseUnk = cfg.fuse_unk === true;
    this.byteFallback = cfg.byte_fallback === true;
    this.ignoreMerges = cfg.ignore_merges === true;
    if (typeof cfg.unk_token === 'string') {
      const u = this.vocab.get(cfg.unk_token);
      if (u === undefined) throw new TokenizerError(`model.unk_token ${JSON.stringify(cfg.unk_token)} is not in model.vocab`);
      this.unkId = u;
    } else this.unkId = -1;

    const merges = cfg.merges ?? [];
    if (!Array.isArray(merges)) throw new TokenizerError('model.merges must be an array');
    this.merges = new PairMap(merges.length);
    const prefixLen = this.prefix.length;
    for (let rank = 0; rank < merges.length; rank++) {
      const m = merges[rank];
      let left: string;
      let right: string;
      // Two formats: the old "a b" string (split on the first space only; tokens never contain a
      // space since byte-level maps it to Ġ) and the newer ["a", "b"] pair.
      if (typeof m === 'string') {
        const sp = m.indexOf(' ');
        if (sp < 0) throw new TokenizerError(`model.merges[${rank}]: ${JSON.stringify(m)} is not "a b"`);
        left = m.slice(0, sp);
        right = m.slice(sp + 1);
      } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
        left = m[0];
        right = m[1];
      } else throw new TokenizerError(`model.merges[${rank}]: expected "a b" or ["a", "b"], got ${JSON.stringify(m)}`);
      const a = this.vocab.get(left);
      const b = this.vocab.get(right);
      // HF: the merged token drops the right part's continuing_subword_prefix.
      const merged = left + (prefixLen > 0 && right.startsWith(this.prefix) ? right.slice(prefixLen) : right);
      const id = this.vocab.get(merged);
      if (a === undefined || b === undefined || id === undefined) {
        const missing = a === undefined ? left : b === undefined ? right : merged;
        throw new TokenizerError(`model.merges[${rank}]: token ${JSON.stringify(missing)} is not in model.vocab`);
      }
      this.merges.set(a, b, rank, id);
    }
  }

  /** Size of the id space of the model (max id + 1). */
  get size(): number {
    return this.tokens.length;
  }

  /**
   * Encode one pre-token, appending its ids to `out`. Mirrors HF `BPE::tokenize` → `merge_word` →
   * `Word::merge_all`: a character with no vocabulary entry (and no byte fallback / unk) is dropped here,
   * *before* merging, so its neighbours can merge across the gap.
   */
  encodeWord(word: string, out: number[]): void {
    if (this.ignoreMerges) {
      const whole = this.vocab.get(word);
      if (whole !== undefined) {
        out.push(whole);
        return;
      }
    }
    let n = 0;
    let unk = -1; // pending unk id (for fuse_unk)
    const len = word.length;
    for (let i = 0; i < len; ) {
      const cp = word.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      let s = word.slice(i, i + w);
      const isFirst = i === 0;
      i += w;
      if (!isFirst && this.prefix) s = this.prefix + s;
      if (i >= len && this.suffix) s = s + this.suffix;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        if (unk >= 0) {
          n = this.pushSymbol(n, unk);
          unk = -1;
        }
        n = this.pushSymbol(n, id);
        continue;
      }
      if (this.byteFallback) {
        const bytes = new TextEncoder().encode(s);
        const ids: number[] = [];
        for (const b of bytes) {
          const bid = this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
          if (bid === undefined) break;
          ids.push(bid);
        }
        if (ids.length === bytes.length) {
          for (const bid of ids) n = this.pushSymbol(n, bid);
          continue;
        }
      }
      if (this.unkId >= 0) {
        if (unk >= 0 && !this.fuseUnk) n = this.pushSymbol(n, unk);
        unk = this.unkId;
      }
    }
    if (unk >= 0) n = this.pushSymbol(n, unk);
    if (n <= LINEAR_MAX) this.mergeLinear(n, out);
    else this.mergeHeap(n, out);
  }

  private pushSymbol(n: number, id: number): number {
    if (n === this.ids.length) {
      const grow = (a: Int32Array): Int32Array => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.ids = grow(this.ids);
      this.next = grow(this.next);
      this.prev = grow(this.prev);
    }
    this.ids[n] = id;
    return n + 1;
  }

  /** Repeatedly merge the leftmost lowest-rank pair; O(n²) but fastest for short words. */
  private mergeLinear(n: number, out: number[]): void {
    const ids = this.ids;
    const merges = this.merges;
    while (n > 1) {
      let bestRank = 0x7fffffff;
      let bestPos = -1;
      let bestSlot = -1;
      for (let i = 0; i < n - 1; i++) {
        const slot = merges.find(ids[i], ids[i + 1]);
        if (slot >= 0) {
          const r = merges.rank(slot);
          if (r < bestRank) {
            bestRank = r;
            bestPos = i;
            bestSlot = slot;
          }
        }
      }
      if (bestPos < 0) break;
      ids[bestPos] = merges.id(bestSlot);
      for (let i = bestPos + 1; i < n - 1; i++) ids[i] = ids[i + 1];
      n--;
    }
    for (let i = 0; i < n; i++) out.push(ids[i]);
  }

  /** Heap of (rank, position) over a linked list of symbols, as HF `Word::merge_all`. */
  private mergeHeap(n: number, out: number[]): void {
    const ids = this.ids;
    const next = this.next;
    const prev = this.prev;
    const merges = this.merges;
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // Entries are rank * 2^27 + position: exact in a double (< 2^53) for words < 134M symbols and < 64M merges.
    const SCALE = 0x8000000;
    const heap: number[] = [];
    const push = (v: number): void => {
      let i = heap.length;
      heap.push(v);
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p] <= v) break;
        heap[i] = heap[p];
        i = p;
      }
      heap[i] = v;
    };
    const pop = (): number => {
      const top = heap[0];
      const last = heap.pop()!;
      const size = heap.length;
      if (size > 0) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= size) break;
          const r = l + 1;
          const c = r < size && heap[r] < heap[l] ? r : l;
          if (heap[c] >= last) break;
          heap[i] = heap[c];
          i = c;
        }
        heap[i] = last;
      }
      return top;
    };
    const consider = (i: number): void => {
      const j = next[i];
      if (j < 0) return;
      const slot = merges.find(ids[i], ids[j]);
      if (slot >= 0) push(merges.rank(slot) * SCALE + i);
    };
    for (let i = 0; i < n - 1; i++) consider(i);
    while (heap.length > 0) {
      const e = pop();
      const rank = Math.floor(e / SCALE);
      const i = e - rank * SCALE;
      if (ids[i] < 0) continue; // symbol was merged away
      const j = next[i];
      if (j < 0) continue;
      const slot = merges.find(ids[i], ids[j]);
      if (slot < 0 || merges.rank(slot) !== rank) continue; // stale entry
      ids[i] = merges.id(slot);
      ids[j] = -1;
      const k = next[j];
      next[i] = k;
      if (k >= 0) prev[k] = i;
      if (prev[i] >= 0) consider(prev[i]);
      consider(i);
    }
    for (let i = 0; i >= 0 && i < n; i = next[i]) out.push(ids[i]);
  }
}
