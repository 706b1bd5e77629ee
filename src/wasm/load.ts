/**
 * Loading into the wasm engine: a checkpoint's tensors copied, one at a time, straight into each part's planned
 * regions (src/wasm/plan.ts), so no second copy of the model ever exists.
 *
 * Weights are copied in their stored dtype (bf16 stays 2 bytes and is rearranged in place into the interleaved
 * layout of `bf16Interleave`, column-blocked first when it is wide, src/wasm/layout.ts; f16 stays 2 bytes and is
 * widened in registers; f32 stays f32), or narrowed to bf16, or block-quantized to q8/q4 in chunks of rows on
 * the thread pool; the small per-channel tensors (norm gains, biases, conv weights, A = −exp(A_log), D) are
 * widened to f32. This file owns that, and {@link loadWasmModel}: options, memories, pool, weights, model.
 */
import type { Checkpoint } from '../io/checkpoint.ts';
import { toF32, type DType } from '../io/safetensors.ts';
import { InputError } from '../errors.ts';
import { resolveLoadOptions, type LoadOptions, type Model } from '../model.ts';
import { blocksPerRow } from '../reference/quant.ts';
import { NATIVE_QUANT, repackGgmlRows, repackQKRows } from '../reference/ggml-repack.ts';
import type { UnpackType } from '../reference/ggml-unpack.ts';
import { GGML_BLOCK, type GgmlType } from '../io/gguf.ts';
import { compileKernelsBuild, createMemory, instantiateKernels } from './kernels.ts';
import { bf16BlockCols, bf16Elements, scatterBf16Rows } from './layout.ts';
import { f32, u8 } from './memory.ts';
import { BYTES, planParts, quantChunkRows, STORED_BYTES, type Matrix } from './plan.ts';
import { jobKernels, runRows } from './jobs.js';
import { jobId, ThreadPool } from './threads.ts';
import { WasmModel, type WasmPart } from './model.ts';
import { availableParallelism } from 'node:os';

/** Bytes of stored rows read at a time when a bf16 matrix is laid out in column blocks. */
const ROW_CHUNK_BYTES = 8 << 20;
const STORED_CODE: Partial<Record<DType, number>> = { F32: 0, BF16: 1, F16: 2 };

/** f32 → bf16 bits, round to nearest even (used only when `dtype: 'bf16'` narrows f32/f16 weights). */
function roundToBf16(src: Float32Array, dst: Uint16Array): void {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) dst[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
}

/**
 * Copies one part's weights from the checkpoint into its planned regions, one tensor at a time, straight into wasm
 * memory (no second copy of the model ever exists); `progress` is called after each tensor.
 */
async function loadWeights(ckpt: Checkpoint, part: WasmPart, pool: ThreadPool | null, progress: (name: string) => void): Promise<void> {
  const { plan, memory, k } = part;
  const vec = async (name: string, ptr: number, map?: (v: number) => number) => {
    const v = await ckpt.readF32(name);
    if (map) for (let i = 0; i < v.length; i++) v[i] = map(v[i]);
    f32(memory, ptr, v.length).set(v);
    progress(name);
  };
  const mat = async (name: string, m: Matrix) => {
    const stored = ckpt.info(name).dtype;
    const n = m.rows * m.cols;
    const native = ckpt.info(name) as { nativeQuant?: string; gguf?: { type: GgmlType } };
    if (native.nativeQuant === m.dtype && native.gguf && 'readBlocks' in ckpt) {
      // A GGUF matrix in a block format its layout holds (Q8_0 / Q5_0 → q8, Q4_0 → q4, the rest → qk): its blocks,
      // read in chunks of rows, repacked into the planned regions (lossless; src/reference/ggml-repack.ts).
      const g8 = ckpt as unknown as { readBlocks(name: string, out: Uint8Array, offset: number): Promise<Uint8Array> };
      const type = native.gguf.type;
      const { elements: be, bytes: bb } = GGML_BLOCK[type];
      const rowBytes = (m.cols / be) * bb;
      const chunk = Math.max(1, Math.floor(ROW_CHUNK_BYTES / rowBytes));
      const nb = blocksPerRow(m.cols);
      const n = (m.rows + (m.rows & 1)) * nb;
      let into: (blocks: Uint8Array, r0: number, g: number) => void;
      if (m.dtype === 'qk') {
        const S = 32 / m.group!;
        const quants = new Int8Array(memory.buffer, m.ptr, n * 32);
        const scales = f32(memory, m.scales, n * S);
        const mins = m.mins ? f32(memory, m.mins, n * S) : null;
        into = (blocks, r0, g) => repackQKRows(type as UnpackType, blocks, r0, g, m.cols, quants, scales, mins);
      } else {
        const quants = u8(memory, m.ptr, n * (m.dtype === 'q8' ? 32 : 16));
        const scales = f32(memory, m.scales, n);
        into = (blocks, r0, g) => repackGgmlRows(type as keyof typeof NATIVE_QUANT, blocks, r0, g, m.cols, quants, scales);
      }
      for (let r0 = 0; r0 < m.rows; r0 += chunk) {
        const g = Math.min(chunk, m.rows - r0);
        into(await g8.readBlocks(name, new Uint8Array(g * rowBytes), r0 * rowBytes), r0, g);
      }
      progress(name);
      return;
    }
    if (m.dtype === 'qk') throw new InputError(`${name}: a qk matrix loads only from its GGUF blocks`);
    if (m.dtype === 'q8' || m.dtype === 'q4') {
      // The stored tensor in chunks of rows through the staging region, each quantized into place by the wasm
      // quantizer, its rows split across the pool (exact f64 arithmetic, ~70 M weights/s per thread). A chunk
      // starts at an even row r0, so the pair layout from r0 on is the layout of a matrix of its own.
      const code = STORED_CODE[stored];
      if (code === undefined) throw new InputError(`${name}: cannot quantize a ${stored} tensor`);
      const sb = STORED_BYTES[stored] ?? 4;
      const BS = m.dtype === 'q8' ? 32 : 16;
      const nb = blocksPerRow(m.cols);
      const job = m.dtype === 'q8' ? 'quantizeQ8Rows' : 'quantizeQ4Rows';
      const padded = m.dtype === 'q4' ? m.rows + (m.rows & 1) : m.rows; // q4 writes its padding row too
      const chunk = quantChunkRows(m.cols, sb);
      for (let r0 = 0; r0 < m.rows; r0 += chunk) {
        const g = Math.min(chunk, m.rows - r0);
        await ckpt.readRangeInto(name, r0 * m.cols * sb, u8(memory, plan.staging, g * m.cols * sb));
        const count = (r0 + g >= m.rows ? padded : r0 + g) - r0;
        const wq = m.ptr + r0 * nb * BS, wd = m.scales + r0 * nb * 4;
        const args = [wq, wd, plan.staging, m.rows - r0, m.cols, code];
        if (pool && count >= 4) await pool.rows(job, args, count, part.index);
        else runRows(part.jobs[jobId(job)]!, args, 0, count);
      }
      progress(name);
      return;
    }
    if (m.dtype === 'bf16' && bf16BlockCols(m.cols) !== m.cols) {
      // Column blocks (src/wasm/layout.ts): stream the rows through a small buffer into their blocks.
      const sb = STORED_BYTES[stored] ?? 4;
      const dst = new Uint16Array(memory.buffer, m.ptr, bf16Elements(m.rows, m.cols));
      const chunk = Math.max(1, Math.floor(ROW_CHUNK_BYTES / (m.cols * sb)));
      const raw = new Uint8Array(Math.min(chunk, m.rows) * m.cols * sb);
      const bits = new Uint16Array(Math.min(chunk, m.rows) * m.cols);
      for (let r0 = 0; r0 < m.rows; r0 += chunk) {
        const g = Math.min(chunk, m.rows - r0);
        const bytes = await ckpt.readRangeInto(name, r0 * m.cols * sb, raw.subarray(0, g * m.cols * sb));
        const rows = stored === 'BF16' ? new Uint16Array(bytes.buffer, 0, g * m.cols) : bits.subarray(0, g * m.cols);
        if (stored !== 'BF16') roundToBf16(toF32(bytes, stored), rows);
        scatterBf16Rows(dst, rows, r0, g, m.cols, m.rows);
      }
    } else if (m.dtype === 'f32' && stored !== 'F32') f32(memory, m.ptr, n).set(await ckpt.readF32(name));
    else if (m.dtype === 'bf16' && stored !== 'BF16') roundToBf16(await ckpt.readF32(name), new Uint16Array(memory.buffer, m.ptr, n));
    else await ckpt.readInto(name, u8(memory, m.ptr, n * BYTES[m.dtype]));
    if (m.dtype === 'bf16') k.bf16Interleave(m.ptr, m.rows, m.cols);
    progress(name);
  };
  const c = ckpt.config;
  if (plan.embeddings) await mat('backbone.embeddings.weight', plan.embeddings);
  for (let j = 0; j < plan.layers.length; j++) {
    const p = `backbone.layers.${plan.spec.layer0 + j}.`;
    const L = plan.layers[j];
    await vec(p + 'norm.weight', L.norm);
    await mat(p + 'mixer.in_proj.weight', L.inProj);
    if (L.inProjBias) await vec(p + 'mixer.in_proj.bias', L.inProjBias);
    await vec(p + 'mixer.conv1d.weight', L.convWeight);
    if (L.convBias) await vec(p + 'mixer.conv1d.bias', L.convBias);
    await mat(p + 'mixer.x_proj.weight', L.xProj);
    await mat(p + 'mixer.dt_proj.weight', L.dtProj);
    await vec(p + 'mixer.dt_proj.bias', L.dtProjBias);
    // A = −exp(A_log), once at load (docs/math.md §5 step 10), rounded to f32 like the reference.
    // A GGUF file stores A itself (readA): used as stored, no log/exp round trip.
    if ('readA' in ckpt) {
      f32(memory, L.A, c.dInner * c.dState).set(await (ckpt as unknown as { readA(layer: number): Promise<Float32Array> }).readA(plan.spec.layer0 + j));
      progress(p + 'mixer.A_log');
    } else await vec(p + 'mixer.A_log', L.A, (v) => -Math.exp(v));
    await vec(p + 'mixer.D', L.D);
    await mat(p + 'mixer.out_proj.weight', L.outProj);
    if (L.outProjBias) await vec(p + 'mixer.out_proj.bias', L.outProjBias);
  }
  if (plan.lmHead) {
    await vec('backbone.norm_f.weight', plan.normF);
    if (!c.tieWordEmbeddings) await mat('lm_head.weight', plan.lmHead);
  }
}

/**
 * Loads a checkpoint into wasm memory and returns the model. `options.dtype`: `auto` (stored dtype,
 * default), `f32` (widen every matrix), `bf16` (keep bf16, round f32/f16 matrices to bf16);
 * `q8`/`q4`: in_proj, x_proj, dt_proj, out_proj, embeddings and
 * lm_head block-quantized at load (docs/quantization.md), dequantized inside the kernels' dot products; conv, A, D,
 * biases and norms stay f32. `options.threads` (default: the cores,
 * `os.availableParallelism()`): matmuls split by rows over that many threads (src/wasm/threads.ts); if workers
 * cannot start, the model runs on 1 thread and says why in `threadNotice`. `options.chunkSize` (default `DEFAULT_CHUNK_SIZE`, 64):
 * tokens per prefill chunk (scratch memory scales with it). A model over 4 GiB (or `options.maxPartBytes`) is
 * split by layers over several memories ({@link planParts}); weights stream in tensor by tensor, reported to
 * `options.onProgress`. `testing.workersOnly` (specs only): the calling thread claims no chunk of a pooled job
 * ({@link ThreadPool.callerClaims}).
 */
export async function loadWasmModel(ckpt: Checkpoint, options: LoadOptions = {}, testing: { workersOnly?: boolean } = {}): Promise<Model> {
  const { dtype, chunkSize, maxPartBytes, threads, simd } = resolveLoadOptions(options, availableParallelism());
  const { module, build } = await compileKernelsBuild(simd);
  // The module's static data ends at __heap_base; read it from a throwaway one-page instance.
  const probe = await instantiateKernels(module, createMemory(1));
  const plans = planParts(ckpt, probe.heapBase(), chunkSize, dtype, maxPartBytes);
  // Every part's memory first (fixed size; pages are only touched as weights arrive), then the pool, so q8/q4
  // quantization at load runs on all threads too.
  const parts: WasmPart[] = [];
  for (const plan of plans) {
    const memory = createMemory(plan.bytes);
    const k = await instantiateKernels(module, memory);
    parts.push({ plan, memory, k, index: parts.length, jobs: jobKernels(k) });
  }
  let pool: ThreadPool | null = null;
  let notice: string | null = null;
  if (threads > 1) {
    try {
      pool = await ThreadPool.start(module, parts.map((p) => p.memory), parts.map((p) => p.jobs), threads);
      if (testing.workersOnly) pool.callerClaims = false;
    } catch (e) {
      notice = `kernel workers could not start (${e instanceof Error ? e.message : String(e)}); running on 1 thread`;
    }
  }
  if (notice) options.onNotice?.(notice);
  const total = ckpt.totalBytes;
  let loaded = 0;
  const progress = (name: string) => {
    loaded += ckpt.info(name).end - ckpt.info(name).start;
    options.onProgress?.({ loadedBytes: loaded, totalBytes: total, tensor: name });
  };
  try {
    for (const part of parts) await loadWeights(ckpt, part, pool, progress);
  } catch (e) {
    pool?.dispose();
    throw e;
  }
  return new WasmModel(ckpt.config, parts, pool, notice, build);
}
