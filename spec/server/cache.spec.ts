// The state cache: continuing from a snapshot gives exactly the tokens of feeding the whole prompt (the last
// prompt token is always fed, never restored); snapshots every N tokens and at message boundaries; the
// memory budget evicts the least recently used; the directory tier survives a restart and ignores another
// model's states.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateBytes } from '../../src/index.ts';
import { prefixKeys } from '../../src/server/cache.ts';
import { expectedText, loadDemo, metric, start, type Demo, type Running } from './helpers.ts';

let d: Demo;
const dirs: string[] = [];
beforeAll(async () => {
  d = await loadDemo();
});
afterAll(async () => {
  await d?.model.dispose();
  for (const x of dirs) rmSync(x, { recursive: true, force: true });
});

const LONG = 'The old man was thin and gaunt with deep wrinkles in the back of his neck. The brown blotches of the benevolent skin cancer the sun brings from its reflection on the tropic sea were on his cheeks.';

async function complete(r: Running, prompt: number[] | string, max = 16) {
  const res = await r.client.completions.create({ model: 'demo', prompt, max_tokens: max, temperature: 0 });
  return { text: res.choices[0].text, cached: res.usage!.prompt_tokens_details!.cached_tokens! };
}

describe('snapshots every N tokens', () => {
  let r: Running;
  beforeAll(async () => {
    r = await start(d, { cacheEvery: 8 });
  });
  afterAll(async () => {
    await r?.server.close({ graceMs: 0 });
  });

  it('a repeated long prompt restores the last multiple of N below its length and answers the same', async () => {
    const ids = d.files.tokenizer.encode(LONG);
    expect(ids.length % 8).not.toBe(0);
    const want = await expectedText(d, LONG, 16, [...d.generation.eosTokenIds]);
    const first = await complete(r, ids);
    expect(first).toEqual({ text: want.text, cached: 0 });
    const again = await complete(r, ids);
    expect(again).toEqual({ text: want.text, cached: Math.floor(ids.length / 8) * 8 });
  });

  it('a prompt that ends exactly at a snapshot still feeds its last token (the snapshot holds no logits)', async () => {
    const ids = d.files.tokenizer.encode(LONG).slice(0, 16); // snapshots at 8 and 16 exist (the whole prompt was longer)
    const want = await expectedText(d, d.files.tokenizer.decode(ids), 16, [...d.generation.eosTokenIds]);
    expect(d.files.tokenizer.encode(d.files.tokenizer.decode(ids))).toEqual(ids);
    const res = await complete(r, ids);
    expect(res).toEqual({ text: want.text, cached: 8 });
  });

  it('a prompt that shares only a prefix reuses the snapshots inside the shared part', async () => {
    const ids = d.files.tokenizer.encode(LONG);
    const other = [...ids.slice(0, 13), ...d.files.tokenizer.encode(' and then the sea was calm.')];
    const want = await expectedText(d, d.files.tokenizer.decode(other), 16, [...d.generation.eosTokenIds]);
    const res = await complete(r, other);
    expect(res).toEqual({ text: want.text, cached: 8 });
  });
});

describe('the memory budget', () => {
  it('holds what fits and evicts the least recently used snapshot', async () => {
    const one = stateBytes(d.model.config) + 4 * 64;
    const r = await start(d, { cacheEvery: 8, cacheBytes: Math.floor(2.5 * one) });
    try {
      const prompts = ['The sea was calm and the boat was old today.', 'A dog ran across the wide field of wheat now.', 'In the city the lights were on all night long.'].map((p) => d.files.tokenizer.encode(p).slice(0, 10));
      for (const p of prompts) expect((await complete(r, p, 2)).cached).toBe(0); // each stores its snapshot at 8
      expect(r.server.cache!.entries).toBe(2);
      expect(r.server.cache!.bytes).toBeLessThanOrEqual(Math.floor(2.5 * one));
      expect((await complete(r, prompts[2], 2)).cached).toBe(8);
      expect((await complete(r, prompts[1], 2)).cached).toBe(8);
      expect((await complete(r, prompts[0], 2)).cached).toBe(0); // the oldest went first
      expect(await metric(r.url, 'falcon_mamba_cache_evictions_total')).toBeGreaterThanOrEqual(1);
    } finally {
      await r.server.close({ graceMs: 0 });
    }
  });
});

describe('the directory tier', () => {
  it('survives a restart, is promoted to memory, and ignores states of another namespace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-cache-'));
    dirs.push(dir);
    const ids = d.files.tokenizer.encode(LONG);
    const want = await expectedText(d, LONG, 12, [...d.generation.eosTokenIds]);
    const a = await start(d, { cacheEvery: 16, cacheDir: dir, cacheNamespace: 'demo-weights' });
    expect((await complete(a, ids, 12)).cached).toBe(0);
    await a.server.close({ graceMs: 0 });
    const files = readdirSync(dir).filter((f) => f.endsWith('.fmstate'));
    expect(files.length).toBe(Math.floor((ids.length - 1) / 16));

    const other = await start(d, { cacheEvery: 16, cacheDir: dir, cacheNamespace: 'other-weights' });
    expect((await complete(other, ids, 12)).cached).toBe(0);
    await other.server.close({ graceMs: 0 });

    const b = await start(d, { cacheEvery: 16, cacheDir: dir, cacheNamespace: 'demo-weights', cacheBytes: 1 << 24 });
    try {
      expect(await complete(b, ids, 12)).toEqual({ text: want.text, cached: Math.floor((ids.length - 1) / 16) * 16 });
      expect(await metric(b.url, 'falcon_mamba_cache_hits_total', 'tier="disk"')).toBe(1);
      expect(await complete(b, ids, 12)).toEqual({ text: want.text, cached: Math.floor((ids.length - 1) / 16) * 16 });
      expect(await metric(b.url, 'falcon_mamba_cache_hits_total', 'tier="disk"')).toBe(1); // the second hit came from memory
    } finally {
      await b.server.close({ graceMs: 0 });
    }
  });
});

it('prefix keys differ for different prefixes and depend on every id', () => {
  const a = prefixKeys([1, 2, 3, 4]);
  const b = prefixKeys([1, 2, 3, 5]);
  expect(a.slice(0, 3)).toEqual(b.slice(0, 3));
  expect(a[3]).not.toBe(b[3]);
  expect(new Set(prefixKeys(Array.from({ length: 5000 }, (_, i) => i % 7))).size).toBe(5000);
});
