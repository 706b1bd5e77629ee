// The thread pool: threads 1 vs 2 (and 3, more than the cores) give the same logits within
// 1e-5 + 1e-5·|x| — each output row is computed by exactly one thread with the same kernel, so in practice they
// are bit-identical; the tolerance only allows for a future split of the reductions. Every dtype's dispatch is
// covered (f32 storage, bf16, q8, q4); a model never disposed must not keep the process alive (checked in a child
// process); the HF goldens with threads: 2 are in goldens.spec.ts.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, type WeightDType } from '../../src/index.ts';
import { WasmModel } from '../../src/wasm/model.ts';
import { expectClose } from '../helpers/close.ts';
import { rng, writeTinyModel } from '../helpers/tiny-model.ts';

const SAME = { atol: 1e-5, rtol: 1e-5 };
const SHAPE = { model_type: 'falcon_mamba' as const, hidden_size: 96, intermediate_size: 384, state_size: 16, conv_kernel: 4, time_step_rank: 6, num_hidden_layers: 2, vocab_size: 515, tie_word_embeddings: false };
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('wasm threads', () => {
  const dir = writeTinyModel(SHAPE, 3);
  dirs.push(dir);
  const r = rng(5);
  const ids = Array.from({ length: 21 }, () => Math.floor(r() * SHAPE.vocab_size));

  for (const dtype of ['auto', 'bf16', 'q8', 'q4'] as WeightDType[]) {
    it(`dtype ${dtype}: threads 2 and 3 = threads 1 (forward, prefill + steps)`, async () => {
      const one = await loadModel(dir, { backend: 'wasm', dtype, threads: 1, chunkSize: 8 });
      const ref = await one.forward(ids);
      for (const threads of [2, 3]) {
        const m = await loadModel(dir, { backend: 'wasm', dtype, threads, chunkSize: 8 });
        expect(m).toBeInstanceOf(WasmModel);
        expect((m as WasmModel).threadNotice).toBeNull();
        expect((m as WasmModel).threads).toBe(threads);
        expectClose(await m.forward(ids), ref, SAME, `${dtype} threads ${threads} forward`);
        const st = m.createState();
        await m.prefill(st, ids.slice(0, 10));
        const V = SHAPE.vocab_size;
        for (let t = 10; t < ids.length; t++) {
          expectClose(await m.step(st, ids[t]), ref.subarray(t * V, (t + 1) * V), SAME, `${dtype} threads ${threads} step ${t}`);
        }
        await m.dispose();
      }
      await one.dispose();
    });
  }

  it('threads defaults to the cores; bad values are InputErrors', async () => {
    const m = (await loadModel(dir, { backend: 'wasm' })) as WasmModel;
    const { availableParallelism } = await import('node:os');
    expect(m.threads).toBe(availableParallelism());
    await m.dispose();
    await expect(loadModel(dir, { backend: 'wasm', threads: 0 })).rejects.toThrow(/threads/);
  });

  it('a process whose 2-thread model was not disposed still exits, and does not exit in the middle of a call', () => {
    const code = `import { loadModel } from './src/index.ts';
const m = await loadModel(${JSON.stringify(dir)}, { backend: 'wasm', threads: 2 });
await m.forward([1, 2, 3]);
// A long call waits for its workers in Atomics.waitAsync, which alone does not keep the process alive.
const s = m.createState();
await m.prefill(s, Array.from({ length: 3000 }, (_, i) => (i * 7) % 515));
for (let i = 0; i < 50; i++) await m.step(s, i);
console.log('done', m.threads, s.position);`;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
    expect(res.stderr).toBe('');
    expect(res.stdout.trim()).toBe('done 2 3050');
    expect(res.status).toBe(0);
  });
});

describe('the kernels build', () => {
  it('auto picks the relaxed-SIMD build on this runtime (Node 20 gets the flag turned on), plain when asked', async () => {
    const dir = dirs[0];
    const auto = (await loadModel(dir, { backend: 'wasm', threads: 1 })) as WasmModel;
    const plain = (await loadModel(dir, { backend: 'wasm', threads: 1, simd: 'plain' })) as WasmModel;
    expect(auto.simd).toBe('relaxed');
    expect(plain.simd).toBe('plain');
    await expect(loadModel(dir, { backend: 'wasm', simd: 'fast' as 'plain' })).rejects.toThrow(/simd "fast" is not supported/);
    auto.dispose();
    plain.dispose();
  });
});

describe('threads change no bits', () => {
  it('q8 and q4 (quantized on 2 threads at load) and bf16: logits of 2 threads = 1 thread, bit for bit', async () => {
    const dir = dirs[0];
    const ids = Array.from({ length: 21 }, (_, i) => (i * 7) % SHAPE.vocab_size);
    for (const dtype of ['bf16', 'q8', 'q4'] as WeightDType[]) {
      const one = await loadModel(dir, { backend: 'wasm', dtype, threads: 1, chunkSize: 8 });
      const two = await loadModel(dir, { backend: 'wasm', dtype, threads: 2, chunkSize: 8 });
      const a = new Uint32Array((await one.forward(ids)).buffer);
      const b = new Uint32Array((await two.forward(ids)).buffer);
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      expect(i === a.length ? null : `${dtype}: first difference at ${i}`).toBeNull();
      await one.dispose();
      await two.dispose();
    }
  });
});

describe('the job table (src/wasm/jobs.js), read by the pool and the worker', () => {
  it('every job is a kernel export; its arity is the export’s', async () => {
    const { JOBS, jobKernels } = await import('../../src/wasm/jobs.js');
    const m = (await loadModel(dirs[0], { backend: 'wasm', threads: 1 })) as WasmModel;
    const k = m.parts[0].k as unknown as Record<string, (...a: number[]) => void>;
    const table = jobKernels(k);
    expect(table.length).toBe(JOBS.length + 1);
    JOBS.forEach((name, i) => {
      expect(table[i + 1]!.f).toBe(k[name]);
      expect(table[i + 1]!.argc).toBe(k[name].length - 2);
    });
    expect(() => jobKernels({ ...k, linearQ8Rows: undefined })).toThrow(/no row-sliced export linearQ8Rows/);
  });

  it('workers only (the caller claims no chunk): 2 threads = 1 thread bit for bit, every dtype, load included', async () => {
    // With the caller claiming chunks, it can take every chunk of a job before a worker wakes, so a worker that
    // runs the wrong job can go unseen; here each chunk of every pooled job (the quantization at load too) is a
    // worker's.
    const { Checkpoint } = await import('../../src/io/checkpoint.ts');
    const { loadWasmModel } = await import('../../src/wasm/load.ts');
    const ids = Array.from({ length: 21 }, (_, i) => (i * 7) % SHAPE.vocab_size);
    const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
    for (const dtype of ['auto', 'bf16', 'q8', 'q4'] as WeightDType[]) {
      const one = await loadModel(dirs[0], { backend: 'wasm', dtype, threads: 1, chunkSize: 8 });
      const two = await loadWasmModel(await Checkpoint.open(dirs[0]), { dtype, threads: 2, chunkSize: 8 }, { workersOnly: true });
      const sa = one.createState(), sb = two.createState();
      const got = [await two.forward(ids), await two.prefill(sb, ids.slice(0, 10)), await two.step(sb, ids[10])];
      const want = [await one.forward(ids), await one.prefill(sa, ids.slice(0, 10)), await one.step(sa, ids[10])];
      got.forEach((g, j) => {
        const a = bits(want[j]), b = bits(g);
        let i = 0;
        while (i < a.length && a[i] === b[i]) i++;
        expect(i === a.length ? null : `${dtype} call ${j}: first difference at ${i} (${want[j][i]} vs ${g[i]})`).toBeNull();
      });
      await one.dispose();
      await two.dispose();
    }
  });
});

describe('worker faults', () => {
  // Every chunk is a worker's (workersOnly), so a job cannot finish without the worker that failed.
  const faulty = async () => {
    const { Checkpoint } = await import('../../src/io/checkpoint.ts');
    const { loadWasmModel } = await import('../../src/wasm/load.ts');
    const m = (await loadWasmModel(await Checkpoint.open(dirs[0]), { threads: 2, chunkSize: 8 }, { workersOnly: true })) as WasmModel;
    const pool = (m as unknown as { pool: import('../../src/wasm/threads.ts').ThreadPool }).pool;
    const workers = (pool as unknown as { workers: import('node:worker_threads').Worker[] }).workers;
    return { m, pool, worker: workers[0] };
  };
  const ids = Array.from({ length: 4000 }, (_, i) => (i * 7) % SHAPE.vocab_size);

  it('a worker terminated mid-call: the call rejects (no hang), and so does every later call', async () => {
    const { m, worker } = await faulty();
    const call = m.forward(ids);
    setTimeout(() => void worker.terminate(), 30);
    const t0 = performance.now();
    await expect(call).rejects.toThrow(/kernel worker 1 exited \(code 1\); this model cannot run any more/);
    expect(performance.now() - t0).toBeLessThan(10_000);
    await expect(m.step(m.createState(), 1)).rejects.toThrow(/kernel worker 1 exited/);
    await expect(m.forward([1, 2])).rejects.toThrow(/kernel worker 1 exited/);
    await m.dispose();
  });

  it('a worker that throws inside a job (a wasm trap): the job rejects, the model is unusable', async () => {
    const { m, pool } = await faulty();
    // linearF32Rows writing far past the end of the memory traps in the worker.
    const job = pool.rows('linearF32Rows', [0xfff00000, 0x1000, 0x1000, 0, 1, 64, 64], 64);
    await expect(job).rejects.toThrow(/kernel worker 1 threw \(.*\); this model cannot run any more/);
    await expect(m.forward([1, 2, 3])).rejects.toThrow(/kernel worker 1 threw/);
    await m.dispose();
  });
});
