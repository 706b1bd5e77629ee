/**
 * A model folder is untrusted: FIFOs, devices, directories, huge or hostile headers and configs
 * each end in one ConfigError / CheckpointError / TokenizerError naming the path, quickly and without a huge
 * allocation.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/io/checkpoint.ts';
import { encodeSafetensors, parseSafetensorsHeader } from '../../src/io/safetensors.ts';
import { parseConfig } from '../../src/config.ts';
import { loadGenerationConfig, parseGenerationConfig } from '../../src/generate/config.ts';
import { loadTokenizerFiles, Tokenizer } from '../../src/tokenizer/index.ts';
import { CheckpointError, ConfigError, FalconMambaError, TokenizerError } from '../../src/errors.ts';
import { TINY, writeTinyModel } from '../helpers/tiny-model.ts';

async function rejects(p: Promise<unknown>, cls: new (...a: never[]) => Error, re: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeInstanceOf(cls);
  expect((err as Error).message).toMatch(re);
}

const TOKENIZER = JSON.stringify({ model: { type: 'BPE', vocab: { a: 0, b: 1 }, merges: [] }, pre_tokenizer: null, decoder: null });

/** A FIFO at `path` (mkfifo); opening it for reading would block until a writer comes, i.e. forever. */
function fifo(path: string): void {
  rmSync(path, { force: true });
  execFileSync('mkfifo', [path]);
}

describe('non-regular files in a model folder', () => {
  for (const name of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'model.safetensors.index.json']) {
    it(`a FIFO as ${name} is refused, not waited on forever`, async () => {
      const dir = writeTinyModel();
      writeFileSync(join(dir, 'tokenizer.json'), TOKENIZER);
      fifo(join(dir, name));
      const re = new RegExp(`${name.replace(/\./g, '\\.')}: not a regular file \\(a FIFO\\)`);
      if (name === 'config.json' || name === 'model.safetensors.index.json') await rejects(Checkpoint.open(dir), ConfigError, re);
      else if (name === 'generation_config.json') await rejects(loadGenerationConfig(dir, parseConfig({ model_type: 'mamba', ...TINY })), ConfigError, re);
      else await rejects(loadTokenizerFiles(dir), TokenizerError, re);
    });
  }
  it('/dev/zero as an index, a config or a tokenizer is refused without reading it', async () => {
    const dir = writeTinyModel();
    symlinkSync('/dev/zero', join(dir, 'model.safetensors.index.json'));
    await rejects(Checkpoint.open(dir), ConfigError, /index\.json: not a regular file \(a device or socket\)/);
    await rejects(Tokenizer.fromFile('/dev/zero'), TokenizerError, /\/dev\/zero: not a regular file/);
  });
  it('a directory as a shard, a config or a tokenizer names the path (was: "internal error" EISDIR)', async () => {
    const dir = writeTinyModel();
    rmSync(join(dir, 'model.safetensors'));
    mkdirSync(join(dir, 'model.safetensors'));
    await rejects(Checkpoint.open(dir), CheckpointError, /model\.safetensors: not a regular file \(a directory\)/);
    await rejects(Tokenizer.fromFile(dir), TokenizerError, /not a regular file \(a directory\)/);
    const d2 = writeTinyModel();
    rmSync(join(d2, 'config.json'));
    mkdirSync(join(d2, 'config.json'));
    await rejects(Checkpoint.open(d2), ConfigError, /config\.json: not a regular file \(a directory\)/);
  });
  it('a missing config names the path and the errno code', async () => {
    const dir = writeTinyModel();
    rmSync(join(dir, 'config.json'));
    await rejects(Checkpoint.open(dir), ConfigError, /config\.json: cannot read the JSON file \(ENOENT\)/);
  });
  it('a config file over 16 MiB is refused by its size', async () => {
    const dir = writeTinyModel();
    writeFileSync(join(dir, 'config.json'), ' '.repeat(17 << 20));
    await rejects(Checkpoint.open(dir), ConfigError, /over the 16777216-byte limit/);
  });
});

describe('config.json against the checkpoint', () => {
  it('num_hidden_layers: 16777216 fails at once against the tensors (was: 20–40 s and 2 GB)', async () => {
    const dir = writeTinyModel();
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 16_777_216 }));
    const t0 = performance.now();
    await rejects(Checkpoint.open(dir), CheckpointError, new RegExp(`num_hidden_layers is 16777216 but the checkpoint in .* has tensors for ${TINY.num_hidden_layers} layers`));
    expect(performance.now() - t0).toBeLessThan(5000);
  });
  it('expand: 0.001 without intermediate_size is refused (was: dInner 0, then "shape [NaN, 0]" in wasm)', () => {
    expect(() => parseConfig({ model_type: 'mamba', hidden_size: 64, expand: 0.001, num_hidden_layers: 1, vocab_size: 8 }, 'c.json')).toThrow(
      /c\.json: field "expand" = 0\.001 gives intermediate size 0/,
    );
    expect(parseConfig({ model_type: 'mamba', hidden_size: 64, expand: 2, num_hidden_layers: 1, vocab_size: 8 }).dInner).toBe(128);
  });
});

describe('safetensors headers', () => {
  const h = (o: unknown) => JSON.stringify(o);
  it('a 100 MB header of nested arrays is refused by a scan, before JSON.parse (was: 34 s, 4.9 GB)', () => {
    const text = '{"a":' + '['.repeat(50_000_000) + ']'.repeat(50_000_000) + '}';
    const t0 = performance.now();
    expect(() => parseSafetensorsHeader(text, 8 + text.length, 8 + text.length, 'x.safetensors')).toThrow(/x\.safetensors: safetensors header nests deeper than 3 levels/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
  it('1.4 M empty tensors are refused by count (was: 1.4 GB)', () => {
    const text = '{' + Array.from({ length: 1_400_000 }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`).join(',') + '}';
    expect(() => parseSafetensorsHeader(text, 8 + text.length, 8 + text.length, 'x.safetensors')).toThrow(/has over 65536 entries/);
  });
  it('an empty tensor between two overlapping ones does not hide the overlap', () => {
    const text = h({
      a: { dtype: 'F32', shape: [25], data_offsets: [0, 100] },
      z: { dtype: 'F32', shape: [0], data_offsets: [50, 50] },
      b: { dtype: 'F32', shape: [15], data_offsets: [60, 120] },
    });
    expect(() => parseSafetensorsHeader(text, 0, 1000, 'x.safetensors')).toThrow(/tensors "a" and "b" overlap/);
    // Also when the overlapping tensor is not the neighbour: a long one, then a short one, then one inside the long one.
    const t2 = h({
      a: { dtype: 'F32', shape: [50], data_offsets: [0, 200] },
      s: { dtype: 'F32', shape: [1], data_offsets: [10, 14] },
      c: { dtype: 'F32', shape: [1], data_offsets: [100, 104] },
    });
    expect(() => parseSafetensorsHeader(t2, 0, 1000, 'x.safetensors')).toThrow(/overlap/);
  });
  it('dtype "toString" (a property of every object) is not a dtype', () => {
    for (const dtype of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const text = h({ t: { dtype, shape: [1], data_offsets: [0, 4] } });
      expect(() => parseSafetensorsHeader(text, 0, 100, 'x.safetensors'), dtype).toThrow(new RegExp(`dtype "${dtype}" is not supported`));
    }
  });
  it('__metadata__ values must be strings', () => {
    expect(() => parseSafetensorsHeader(h({ __metadata__: { format: 1 } }), 0, 100, 'x.safetensors')).toThrow(/__metadata__ "format" must be a string/);
    expect(parseSafetensorsHeader(h({ __metadata__: { format: 'pt' } }), 0, 100, 'x').metadata).toEqual({ format: 'pt' });
  });
  it('a real file still reads', () => {
    const bytes = encodeSafetensors({ w: { shape: [2], data: new Float32Array([1, 2]) } });
    expect(bytes.length).toBeGreaterThan(8);
  });
});

describe('generation_config.json', () => {
  const model = parseConfig({ model_type: 'mamba', ...TINY });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ max_new_tokens: -5 }, /g\.json: field "max_new_tokens" must be an integer ≥ 0, got -5/],
    [{ max_new_tokens: 1.5 }, /field "max_new_tokens"/],
    [{ temperature: -1 }, /g\.json: field "temperature" must be a number ≥ 0/],
    [{ top_p: 0 }, /g\.json: field "top_p" must be in \(0, 1\]/],
    [{ top_p: 2 }, /field "top_p"/],
    [{ min_p: 1.5 }, /field "min_p" must be in \[0, 1\]/],
    [{ top_k: -1 }, /field "top_k" must be an integer ≥ 0/],
    [{ repetition_penalty: 0 }, /field "repetition_penalty" must be a number > 0/],
  ];
  for (const [raw, re] of cases) {
    it(`${JSON.stringify(raw)} names the file and field (was: "maxTokens must be …" a turn later)`, () => {
      let err: unknown;
      try {
        parseGenerationConfig(raw, model, 'g.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect(err).toBeInstanceOf(FalconMambaError);
      expect((err as Error).message).toMatch(re);
    });
  }
  it('valid values pass', () => {
    expect(parseGenerationConfig({ do_sample: true, temperature: 0.7, top_p: 0.9, top_k: 40, max_new_tokens: 0 }, model, 'g.json').topK).toBe(40);
  });
});

describe('sampling', () => {
  it('temperature 1e-300 is refused like transformers, not sampled as garbage', async () => {
    const { sampleToken } = await import('../../src/generate/sampler.ts');
    const { InputError } = await import('../../src/errors.ts');
    const logits = new Float32Array([0.5, 2, -1, 1.5]);
    let err: unknown;
    try {
      sampleToken(logits, [], { temperature: 1e-300 }, () => 0.5);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/temperature 1e-300 is too small: .*overflows float32/);
    // A small temperature that stays finite still works: it sharpens toward the argmax.
    expect(sampleToken(logits, [], { temperature: 1e-3 }, () => 0.5)).toBe(1);
  });
});
