/**
 * The state cache: snapshots of the recurrent state keyed by the token prefix they hold.
 *
 * A Mamba state is the whole memory of a prefix and has a fixed size (38 MiB for FalconMamba-7B in f32), so
 * a snapshot taken after `ids[0..p)` lets any later prompt that starts with those p ids skip them: restore
 * the snapshot, feed `ids[p..]`. Keys are hashes of the prefix (two 32-bit FNV-1a-style hashes and the
 * length); each entry keeps its ids and a hit is checked against them, so a hash collision is a miss, never
 * a wrong state.
 *
 * Two tiers: memory (state.ts bytes, LRU within a byte budget) and an optional directory (one state.ts file
 * per snapshot, its ids and the model's namespace in the metadata; LRU by modification time within its own
 * budget), which survives a restart. A snapshot read from the directory is promoted to memory.
 */
import { mkdir, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import type { Model, ModelState } from '../model.ts';
import { decodeState, saveState } from '../state.ts';

/** Options of a {@link StateCache}. */
export interface StateCacheOptions {
  /** Memory budget in bytes (0 disables the memory tier). */
  maxBytes: number;
  /** A directory for the disk tier (created if missing); undefined: memory only. */
  dir?: string;
  /** Disk budget in bytes (default 4 × maxBytes, at least 1 GiB). */
  maxDirBytes?: number;
  /**
   * What the states belong to (a model's path and weights' identity): a file of another namespace in the
   * directory is ignored. Two checkpoints of the same shape must not share states.
   */
  namespace: string;
}

/** Counters the metrics endpoint reports. */
export interface CacheStats {
  hits: number;
  misses: number;
  diskHits: number;
  /** Tokens that requests skipped thanks to a hit. */
  reusedTokens: number;
  stores: number;
  evictions: number;
  diskErrors: number;
}

interface Entry {
  ids: Uint32Array;
  bytes: Uint8Array;
}

interface DiskEntry {
  size: number;
  used: number;
}

const FILE_RE = /^[0-9a-f]{8}-[0-9a-f]{8}-\d+\.fmstate$/;

/** The two running 32-bit hashes of every prefix `ids[0..p)`, p = 1..n (index p−1). */
function prefixHashes(ids: ArrayLike<number>, n: number): [Uint32Array, Uint32Array] {
  const ha = new Uint32Array(n);
  const hb = new Uint32Array(n);
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < n; i++) {
    const x = ids[i] >>> 0;
    for (let s = 0; s < 32; s += 8) {
      const byte = (x >>> s) & 0xff;
      a = Math.imul(a ^ byte, 0x01000193);
      b = Math.imul(b ^ byte, 0x5bd1e995);
      b ^= b >>> 15;
    }
    ha[i] = a;
    hb[i] = b;
  }
  return [ha, hb];
}

function keyOf(ha: Uint32Array, hb: Uint32Array, p: number): string {
  return `${ha[p - 1].toString(16).padStart(8, '0')}-${hb[p - 1].toString(16).padStart(8, '0')}-${p}`;
}

/** The hash keys of every prefix `ids[0..p)`, p = 1..n (index p−1). */
export function prefixKeys(ids: ArrayLike<number>, n = ids.length): string[] {
  const [ha, hb] = prefixHashes(ids, n);
  return Array.from({ length: n }, (_, i) => keyOf(ha, hb, i + 1));
}

function sameIds(a: Uint32Array | readonly number[], b: ArrayLike<number>, n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function lengthOfKey(key: string): number {
  return Number(key.slice(key.lastIndexOf('-') + 1));
}

/** Prefix → state snapshots in memory (LRU) and optionally on disk. */
export class StateCache {
  readonly stats: CacheStats = { hits: 0, misses: 0, diskHits: 0, reusedTokens: 0, stores: 0, evictions: 0, diskErrors: 0 };
  /** Insertion order is recency order: a hit moves the entry to the end. */
  private readonly memory = new Map<string, Entry>();
  /** How many snapshots (memory and disk) hold a prefix of each length: a lookup only builds keys where one may hit. */
  private readonly lengths = new Map<number, number>();
  private memoryBytes = 0;
  private readonly disk = new Map<string, DiskEntry>();
  private diskBytes = 0;
  private diskReady: Promise<void> | null = null;
  private readonly maxDirBytes: number;
  private writes = Promise.resolve();

  constructor(
    private readonly model: Model,
    readonly options: StateCacheOptions,
  ) {
    this.maxDirBytes = options.maxDirBytes ?? Math.max(4 * options.maxBytes, 1 << 30);
  }

  private count(key: string, delta: number): void {
    const p = lengthOfKey(key);
    const c = (this.lengths.get(p) ?? 0) + delta;
    if (c > 0) this.lengths.set(p, c);
    else this.lengths.delete(p);
  }

  /** Bytes held in memory. */
  get bytes(): number {
    return this.memoryBytes;
  }

  /** Snapshots held in memory. */
  get entries(): number {
    return this.memory.size;
  }

  /** Bytes held in the directory tier. */
  get dirBytes(): number {
    return this.diskBytes;
  }

  /** Scans the directory once (lazily): the files of earlier runs become the disk tier's index. */
  private openDir(): Promise<void> {
    const dir = this.options.dir;
    if (!dir) return Promise.resolve();
    this.diskReady ??= (async () => {
      try {
        await mkdir(dir, { recursive: true });
        for (const name of await readdir(dir)) {
          if (!FILE_RE.test(name)) continue;
          const st = await stat(join(dir, name));
          const key = name.slice(0, -'.fmstate'.length);
          this.disk.set(key, { size: st.size, used: st.mtimeMs });
          this.count(key, 1);
          this.diskBytes += st.size;
        }
      } catch {
        this.stats.diskErrors++;
      }
    })();
    return this.diskReady;
  }

  /**
   * The longest cached prefix of `ids` of at most `maxLength` tokens, as a fresh state (the caller owns it),
   * or null. The memory tier is searched first at each length, then the directory.
   */
  async lookup(ids: readonly number[], maxLength: number): Promise<{ length: number; state: ModelState } | null> {
    await this.openDir();
    const n = Math.min(maxLength, ids.length);
    if (n <= 0 || (this.memory.size === 0 && this.disk.size === 0)) {
      this.stats.misses++;
      return null;
    }
    const [ha, hb] = prefixHashes(ids, n);
    for (let p = n; p >= 1; p--) {
      if (!this.lengths.has(p)) continue;
      const key = keyOf(ha, hb, p);
      const m = this.memory.get(key);
      if (m && sameIds(m.ids, ids, p)) {
        this.memory.delete(key);
        this.memory.set(key, m);
        this.stats.hits++;
        this.stats.reusedTokens += p;
        return { length: p, state: this.model.loadState(m.bytes) };
      }
      if (this.disk.has(key)) {
        const state = await this.readDisk(key, ids, p);
        if (state) {
          this.stats.hits++;
          this.stats.diskHits++;
          this.stats.reusedTokens += p;
          this.remember(key, ids, p, this.model.saveState(state));
          return { length: p, state };
        }
      }
    }
    this.stats.misses++;
    return null;
  }

  /** Stores a snapshot of `state`, which holds exactly `ids[0..length)`. */
  put(ids: readonly number[], length: number, state: ModelState): void {
    const [ha, hb] = prefixHashes(ids, length);
    const key = keyOf(ha, hb, length);
    const existing = this.memory.get(key);
    if (existing && sameIds(existing.ids, ids, length)) {
      this.memory.delete(key);
      this.memory.set(key, existing);
    } else if (this.options.maxBytes > 0) {
      this.remember(key, ids, length, this.model.saveState(state));
    }
    this.stats.stores++;
    if (this.options.dir && !this.disk.has(key)) {
      const bytes = saveState(this.model.config, state, { namespace: this.options.namespace, ids: Array.from(ids.slice(0, length)) });
      this.writes = this.writes.then(() => this.writeDisk(key, bytes));
    }
  }

  /** Waits for the directory writes queued so far (tests, shutdown). */
  flush(): Promise<void> {
    return this.writes;
  }

  private remember(key: string, ids: readonly number[], length: number, bytes: Uint8Array): void {
    const entry: Entry = { ids: Uint32Array.from(ids.slice(0, length)), bytes };
    const size = bytes.byteLength + entry.ids.byteLength;
    if (size > this.options.maxBytes) return;
    const old = this.memory.get(key);
    if (old) {
      this.memoryBytes -= old.bytes.byteLength + old.ids.byteLength;
      this.memory.delete(key);
      this.count(key, -1);
    }
    this.memory.set(key, entry);
    this.count(key, 1);
    this.memoryBytes += size;
    for (const [k, e] of this.memory) {
      if (this.memoryBytes <= this.options.maxBytes) break;
      this.memory.delete(k);
      this.count(k, -1);
      this.memoryBytes -= e.bytes.byteLength + e.ids.byteLength;
      this.stats.evictions++;
    }
  }

  private async readDisk(key: string, ids: readonly number[], p: number): Promise<ModelState | null> {
    const path = join(this.options.dir!, `${key}.fmstate`);
    try {
      const { state, metadata } = decodeState(this.model.config, new Uint8Array(await readFile(path)));
      const meta = metadata as { namespace?: unknown; ids?: unknown } | undefined;
      if (meta?.namespace !== this.options.namespace || !Array.isArray(meta.ids) || !sameIds(meta.ids as number[], ids, p)) return null;
      const now = Date.now();
      this.disk.get(key)!.used = now;
      await utimes(path, now / 1000, now / 1000).catch(() => {});
      return state;
    } catch {
      // A truncated or foreign file is a miss; forget it so it is not read again.
      this.stats.diskErrors++;
      this.dropDisk(key);
      return null;
    }
  }

  private async writeDisk(key: string, bytes: Uint8Array): Promise<void> {
    const dir = this.options.dir!;
    try {
      await this.openDir();
      if (this.disk.has(key)) return;
      const tmp = join(dir, `.${key}.${process.pid}.tmp`);
      await writeFile(tmp, bytes);
      await rename(tmp, join(dir, `${key}.fmstate`));
      this.disk.set(key, { size: bytes.byteLength, used: Date.now() });
      this.count(key, 1);
      this.diskBytes += bytes.byteLength;
      while (this.diskBytes > this.maxDirBytes && this.disk.size > 1) {
        let oldest: string | null = null;
        let when = Infinity;
        for (const [k, e] of this.disk) if (e.used < when) [oldest, when] = [k, e.used];
        this.dropDisk(oldest!);
        this.stats.evictions++;
      }
    } catch {
      this.stats.diskErrors++;
    }
  }

  private dropDisk(key: string): void {
    const e = this.disk.get(key);
    if (!e) return;
    this.disk.delete(key);
    this.count(key, -1);
    this.diskBytes -= e.size;
    unlink(join(this.options.dir!, `${key}.fmstate`)).catch(() => {});
  }
}
