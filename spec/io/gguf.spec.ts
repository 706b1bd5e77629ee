// The GGUF reader (src/io/gguf.ts) on llama.cpp-made fixtures and on hostile hand-made files: every malformed
// header gives a CheckpointError naming the key or tensor, never a crash, a hang or a huge allocation.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError, ConfigError } from '../../src/errors.ts';
import { GgufCheckpoint } from '../../src/io/gguf-checkpoint.ts';
import { MAX_GGUF_HEADER_BYTES, parseGgufHeader, readGgufHeader, readGgufTensorInto } from '../../src/io/gguf.ts';
import { REPO } from '../helpers/goldens.ts';
import { encodeGguf, f32Bytes, type KV, type TensorSpec } from '../helpers/gguf-writer.ts';

const FIX = join(REPO, 'fixtures', 'gguf');
const dir = mkdtempSync(join(tmpdir(), 'fm-gguf-'));
let n = 0;
function file(bytes: Uint8Array): string {
  const p = join(dir, `t${n++}.gguf`);
  writeFileSync(p, bytes);
  return p;
}

const kv: Record<string, KV> = { 'general.architecture': { t: 'str', v: 'mamba' }, 'general.name': { t: 'str', v: 'x' } };
const tensors: TensorSpec[] = [
  { name: 'a', type: 0, dims: [4, 2], data: f32Bytes([1, 2, 3, 4, 5, 6, 7, 8]) },
  { name: 'b', type: 0, dims: [3], data: f32Bytes([9, 10, 11]) },
];

async function fails(bytes: Uint8Array, message: RegExp): Promise<void> {
  const p = file(bytes);
  const err = await readGgufHeader(p).then(() => null, (e) => e);
  expect(err, `expected an error matching ${message}`).toBeInstanceOf(CheckpointError);
  expect(err.message).toMatch(message);
  expect(err.message).toContain(p);
}

describe('GGUF reader: files made by llama.cpp', () => {
  it('reads a llama-quantize Q4_K_M file: version, alignment, types and shapes (ggml dims innermost first)', async () => {
    const h = await readGgufHeader(join(FIX, 'falcon-wide.Q4_K_M.gguf'));
    expect(h.version).toBe(3);
    expect(h.alignment).toBe(32);
    expect(h.metadata.get('general.architecture')).toBe('mamba');
    expect(h.metadata.get('mamba.ssm.dt_b_c_rms')).toBe(true);
    const inProj = h.tensors.get('blk.0.ssm_in.weight')!;
    expect(inProj.type).toBe('Q4_K');
    expect(inProj.dims).toEqual([256, 1024]);
    expect(inProj.shape).toEqual([1024, 256]);
    expect(inProj.end - inProj.start).toBe((1024 * 256 / 256) * 144);
    expect(h.tensors.get('output.weight')!.type).toBe('Q6_K');
    expect(h.tensors.get('blk.0.ssm_a')!.type).toBe('F32');
  });

  it('reads a header larger than the first MiB read (the 2.3 MB Falcon vocabulary: 65024 tokens, 64784 merges)', async () => {
    const h = await readGgufHeader(join(FIX, 'falcon-vocab.gguf'));
    expect((h.metadata.get('tokenizer.ggml.tokens') as string[]).length).toBe(65024);
    expect((h.metadata.get('tokenizer.ggml.merges') as string[]).length).toBe(64784);
    expect(h.tensors.size).toBe(0);
  });

  it('reads tensor bytes by exact range, and refuses a range outside the tensor', async () => {
    const p = file(encodeGguf(kv, tensors));
    const h = await readGgufHeader(p);
    const b = h.tensors.get('b')!;
    const out = await readGgufTensorInto(b, new Uint8Array(12));
    expect(Array.from(new Float32Array(out.buffer))).toEqual([9, 10, 11]);
    const part = await readGgufTensorInto(h.tensors.get('a')!, new Uint8Array(8), 16);
    expect(Array.from(new Float32Array(part.buffer))).toEqual([5, 6]);
    await expect(readGgufTensorInto(b, new Uint8Array(8), 8)).rejects.toThrow(/tensor "b" has 12 bytes/);
  });

  it('honours general.alignment (64) and version 2', async () => {
    const p = file(encodeGguf({ ...kv, 'general.alignment': { t: 'u32', v: 64 } }, tensors, { alignment: 64, version: 2 }));
    const h = await readGgufHeader(p);
    expect(h.alignment).toBe(64);
    expect(h.version).toBe(2);
    expect(h.dataStart % 64).toBe(0);
    expect(h.tensors.get('b')!.start - h.dataStart).toBe(64);
  });
});

describe('GGUF reader: hostile headers', () => {
  it('refuses another magic and versions 1 and 4', async () => {
    await fails(encodeGguf(kv, tensors, { magic: 'GGML' }), /not a GGUF file/);
    await fails(encodeGguf(kv, tensors, { version: 1 }), /version 1 is not supported/);
    await fails(encodeGguf(kv, tensors, { version: 4 }), /version 4 is not supported/);
  });

  it('every truncation of a header is a CheckpointError (never a RangeError or a hang)', () => {
    const full = encodeGguf(kv, tensors);
    const h = parseGgufHeader(full, full.length, 'x.gguf');
    for (let cut = 0; cut < h.dataStart + 44; cut++) {
      const err = (() => {
        try {
          parseGgufHeader(full.subarray(0, cut), cut, 'x.gguf');
          return null;
        } catch (e) {
          return e;
        }
      })();
      expect(err, `cut at ${cut}`).toBeInstanceOf(CheckpointError);
    }
  });

  it('a string length of 2^60 is refused before anything is allocated', async () => {
    const bytes = encodeGguf(kv, tensors);
    // the first key's length field sits at byte 24
    new DataView(bytes.buffer).setBigUint64(24, 1n << 60n, true);
    await fails(bytes, /metadata key #0: string length = 1152921504606846976 is out of range|runs past the end of the file/);
  });

  it('an array count of 2^40 is refused by the header limit, not allocated', async () => {
    const big: Record<string, KV> = { ...kv, 'tokenizer.ggml.tokens': { t: 'arr', item: 'i32', v: [1, 2, 3] } };
    const bytes = encodeGguf(big, tensors);
    const at = Buffer.from(bytes).indexOf(Buffer.from('tokenizer.ggml.tokens')) + 'tokenizer.ggml.tokens'.length + 8;
    new DataView(bytes.buffer).setBigUint64(at, 1n << 40n, true);
    await fails(bytes, new RegExp(`array length 1099511627776 exceeds the ${MAX_GGUF_HEADER_BYTES}-byte header limit`));
    new DataView(bytes.buffer).setBigUint64(at, 1000n, true);
    await fails(bytes, /"tokenizer.ggml.tokens": array of 1000 items runs past the end of the file/);
  });

  it('a tensor_count or kv_count larger than the file could hold is refused', async () => {
    const bytes = encodeGguf(kv, tensors);
    new DataView(bytes.buffer).setBigUint64(8, 1n << 50n, true);
    await fails(bytes, /tensor_count = 1125899906842624 is out of range/);
    const b2 = encodeGguf(kv, tensors);
    new DataView(b2.buffer).setBigUint64(16, 1n << 33n, true);
    await fails(b2, /kv_count = 8589934592 is out of range/);
  });

  it('dimensions whose product overflows 2^53 are refused', async () => {
    await fails(encodeGguf(kv, [{ name: 'w', type: 0, dims: [2 ** 30, 2 ** 30], data: new Uint8Array(4) }]), /tensor "w": dimensions \[1073741824,1073741824\] overflow/);
  });

  it('a tensor running past the end of the file is refused, naming it', async () => {
    await fails(encodeGguf(kv, [{ name: 'w', type: 0, dims: [4096, 4096], data: new Uint8Array(64) }]), /tensor "w": 67108864 bytes at data offset 0 run past the end of the file/);
  });

  it('an offset that is not a multiple of the alignment is refused', async () => {
    await fails(encodeGguf(kv, [tensors[0], { ...tensors[1], offset: 36 }]), /tensor "b": offset 36 is not a multiple of the alignment 32/);
  });

  it('overlapping tensors are refused', async () => {
    await fails(encodeGguf(kv, [tensors[0], { ...tensors[1], offset: 0 }]), /tensors "(a|b)" and "(a|b)" overlap/);
  });

  it('an unknown ggml type, or rows that are not whole blocks, are refused', async () => {
    await fails(encodeGguf(kv, [{ name: 'w', type: 20, dims: [32], data: new Uint8Array(32) }]), /tensor "w": ggml type 20 is not supported/);
    await fails(encodeGguf(kv, [{ name: 'w', type: 12, dims: [128, 2], data: new Uint8Array(288) }]), /tensor "w": innermost dimension 128 is not a multiple of Q4_K's block of 256/);
  });

  it('n_dims 0 or 5, a duplicate key, a duplicate tensor are refused', async () => {
    await fails(encodeGguf(kv, [{ name: 'w', type: 0, dims: [1, 1, 1, 1, 1], data: new Uint8Array(4) }]), /tensor "w": n_dims 5 is not in 1..4/);
    await fails(encodeGguf(kv, [{ name: 'w', type: 0, dims: [], data: new Uint8Array(0) }]), /tensor "w": n_dims 0/);
    const bytes = encodeGguf({ 'general.namf': { t: 'str', v: 'x' }, 'general.name': { t: 'str', v: 'x' } }, []);
    bytes.set(new TextEncoder().encode('general.name'), 24 + 8);
    await fails(bytes, /metadata key "general.name" appears twice/);
    await fails(encodeGguf(kv, [tensors[1], tensors[1]]), /tensor "b": appears twice/);
  });

  it('an alignment that is not a power of two, a bool byte of 2, an unknown value type are refused', async () => {
    await fails(encodeGguf({ ...kv, 'general.alignment': { t: 'u32', v: 48 } }, tensors), /"general.alignment" = 48 is not a power of two/);
    const b = encodeGguf({ flag: { t: 'bool', v: true } }, []);
    const at = Buffer.from(b).indexOf(Buffer.from('flag')) + 4 + 4;
    b[at] = 2;
    await fails(b, /metadata "flag": bool byte 2 is not 0 or 1/);
    const c = encodeGguf({ flag: { t: 'bool', v: true } }, []);
    c[Buffer.from(c).indexOf(Buffer.from('flag')) + 4] = 13;
    await fails(c, /metadata "flag": unknown value type 13/);
  });

  it('refuses a FIFO (it would block reading) and a missing file', async () => {
    const fifo = join(dir, 'fifo.gguf');
    execFileSync('mkfifo', [fifo]);
    await expect(readGgufHeader(fifo)).rejects.toThrow(/fifo.gguf: not a regular file/);
    await expect(readGgufHeader(join(dir, 'absent.gguf'))).rejects.toThrow(/absent.gguf: cannot read the file/);
  });
});

describe('GGUF model files: config and tensors checked against each other', () => {
  const base: Record<string, KV> = {
    'general.architecture': { t: 'str', v: 'mamba' },
    'mamba.embedding_length': { t: 'u32', v: 4 },
    'mamba.block_count': { t: 'u32', v: 1 },
    'mamba.ssm.inner_size': { t: 'u32', v: 8 },
    'mamba.ssm.state_size': { t: 'u32', v: 2 },
    'mamba.ssm.conv_kernel': { t: 'u32', v: 2 },
    'mamba.ssm.time_step_rank': { t: 'u32', v: 1 },
    'mamba.attention.layer_norm_rms_epsilon': { t: 'f32', v: 1e-5 },
    'mamba.ssm.dt_b_c_rms': { t: 'bool', v: true },
  };
  const z = (n: number) => new Uint8Array(4 * n);
  const model: TensorSpec[] = [
    { name: 'token_embd.weight', type: 0, dims: [4, 10], data: z(40) },
    { name: 'output_norm.weight', type: 0, dims: [4], data: z(4) },
    { name: 'blk.0.attn_norm.weight', type: 0, dims: [4], data: z(4) },
    { name: 'blk.0.ssm_in.weight', type: 0, dims: [4, 16], data: z(64) },
    { name: 'blk.0.ssm_conv1d.weight', type: 0, dims: [2, 8], data: z(16) },
    { name: 'blk.0.ssm_conv1d.bias', type: 0, dims: [8], data: z(8) },
    { name: 'blk.0.ssm_x.weight', type: 0, dims: [8, 5], data: z(40) },
    { name: 'blk.0.ssm_dt.weight', type: 0, dims: [1, 8], data: z(8) },
    { name: 'blk.0.ssm_dt.bias', type: 0, dims: [8], data: z(8) },
    { name: 'blk.0.ssm_a', type: 0, dims: [2, 8], data: f32Bytes(new Array(16).fill(-1)) },
    { name: 'blk.0.ssm_d', type: 0, dims: [8], data: z(8) },
    { name: 'blk.0.ssm_out.weight', type: 0, dims: [8, 4], data: z(32) },
  ];

  it('a consistent file opens: FalconMamba from dt_b_c_rms, V from token_embd, tied, mixer eps 1e-6 by default', async () => {
    const ck = await GgufCheckpoint.open(file(encodeGguf(base, model)));
    expect(ck.config).toMatchObject({ modelType: 'falcon_mamba', dModel: 4, dInner: 8, dState: 2, dConv: 2, dtRank: 1, nLayer: 1, vocabSize: 10, tieWordEmbeddings: true, useConvBias: true, useBias: false, mixerRmsEps: 1e-6 });
    expect(ck.config.normEps).toBeCloseTo(1e-5, 10);
    const ll = await GgufCheckpoint.open(file(encodeGguf(base, model)), { mixerRmsEps: 'llama.cpp' });
    expect(ll.config.mixerRmsEps).toBe(ll.config.normEps);
    expect(Array.from(await ck.readA(0))).toEqual(new Array(16).fill(-1));
    // A loader that asks for A_log gets log(−A) = 0
    expect(Array.from(await ck.readF32('backbone.layers.0.mixer.A_log'))).toEqual(new Array(16).fill(0));
  });

  it('names the key or tensor at fault', async () => {
    await expect(GgufCheckpoint.open(file(encodeGguf({ ...base, 'general.architecture': { t: 'str', v: 'llama' } }, model)))).rejects.toThrow(ConfigError);
    const { ['mamba.ssm.state_size']: _, ...noN } = base;
    await expect(GgufCheckpoint.open(file(encodeGguf(noN, model)))).rejects.toThrow(/missing metadata "mamba.ssm.state_size"/);
    await expect(GgufCheckpoint.open(file(encodeGguf({ ...base, 'mamba.block_count': { t: 'u32', v: 0 } }, model)))).rejects.toThrow(/"mamba.block_count" must be a positive integer/);
    await expect(GgufCheckpoint.open(file(encodeGguf(base, model.filter((t) => t.name !== 'blk.0.ssm_d'))))).rejects.toThrow(/tensor "blk.0.ssm_d" is missing/);
    const wrong = model.map((t) => (t.name === 'blk.0.ssm_x.weight' ? { ...t, dims: [8, 4], data: z(32) } : t));
    await expect(GgufCheckpoint.open(file(encodeGguf(base, wrong)))).rejects.toThrow(/tensor "blk.0.ssm_x.weight" has shape \[4,8\], expected \[5,8\]/);
    await expect(GgufCheckpoint.open(file(encodeGguf(base, [...model, { name: 'blk.1.ssm_d', type: 0, dims: [8], data: z(8) }])))).rejects.toThrow(/unexpected tensor "blk.1.ssm_d"/);
    // A block count far beyond the tensors fails at once (the shared lookup counts blk.N first), not after
    // building 16,777,216 layers' names.
    await expect(GgufCheckpoint.open(file(encodeGguf({ ...base, 'mamba.block_count': { t: 'u32', v: 1 << 24 } }, model)))).rejects.toThrow(/metadata "mamba.block_count" is 16777216 but the file has tensors for 1 layers/);
    const posA = model.map((t) => (t.name === 'blk.0.ssm_a' ? { ...t, data: f32Bytes(new Array(16).fill(0.5)) } : t));
    const ck = await GgufCheckpoint.open(file(encodeGguf(base, posA)));
    await expect(ck.readA(0)).rejects.toThrow(/tensor "blk.0.ssm_a" element 0 is 0.5; A must be negative/);
  });
});
