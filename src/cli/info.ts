/**
 * `falcon-mamba info`: what a model folder holds, from its headers only (no weight is read): config,
 * parameter count, stored dtypes and bytes, the state bytes per sequence, generation and tokenizer facts.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { DEFAULT_CHUNK_SIZE, stateFloats } from '../model.ts';
import { stateBytes } from '../state.ts';
import { loadGenerationConfig } from '../generate/config.ts';
import { loadTokenizerFiles } from '../tokenizer/files.ts';
import { hasGgufTokenizer, loadModelTokenizer } from '../tokenizer/gguf.ts';
import { planWasmMemory } from '../wasm/plan.ts';
import { mixerEpsFlag, modelFlag, openCheckpoint, parse, type Command } from './common.ts';
import { formatBytes } from './progress.ts';

const OPTIONS = {
  model: { type: 'string', short: 'm' },
  json: { type: 'boolean' },
  'mixer-eps': { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The `info` command. */
export const infoCommand: Command = {
  name: 'info',
  summary: 'describe a model folder (config, parameters, dtypes, state size)',
  help: `Usage: falcon-mamba info --model DIR

Reads config.json and the safetensors headers (no weights) and prints the config in glossary names, the
parameter count, stored dtypes and bytes, the recurrent state's bytes per sequence, the eos ids and the
tokenizer (when the folder has one).

  --model, -m DIR        a Hugging Face model folder, or a .gguf file (its tensor types are listed)
  --json                 print one JSON object
  --mixer-eps EPS        .gguf only: the dt/B/C norm eps to report (transformers | llama.cpp | a number)
  --verbose, -v          stack traces on errors
  --help, -h             this help`,

  async run(argv) {
    const { values: v } = parse('info', argv, OPTIONS);
    if (v.help) {
      process.stdout.write(this.help + '\n');
      return 0;
    }
    const dir = modelFlag('info', v.model);
    const ckpt = await openCheckpoint(dir, mixerEpsFlag('info', v['mixer-eps'], dir));
    const c = ckpt.config;
    let parameters = 0;
    for (const t of ckpt.tensors.values()) parameters += t.shape.reduce((a, b) => a * b, 1);
    const dtypes = Object.fromEntries(ckpt.dtypes());
    const floats = stateFloats(c);
    const generation = await loadGenerationConfig(dir, c);
    let tokenizer: { vocabSize: number; chatTemplate: boolean; bosToken?: string; eosToken?: string } | null = null;
    const gguf = 'header' in ckpt ? ckpt : null;
    const hasTokenizer = gguf ? hasGgufTokenizer(gguf.header.metadata) : await access(join(dir, 'tokenizer.json')).then(() => true, () => false);
    // A GGUF file lists its tensors' ggml types as stored (block formats included), with their bytes.
    const ggmlTypes = gguf ? Object.fromEntries(gguf.ggmlTypes()) : undefined;
    if (hasTokenizer) {
      const files = gguf ? await loadModelTokenizer(dir) : await loadTokenizerFiles(dir);
      tokenizer = { vocabSize: files.tokenizer.vocabSize, chatTemplate: files.chatTemplate !== undefined, bosToken: files.bosToken, eosToken: files.eosToken };
    }
    // What the wasm engine would hold, per weight format, from its memory plan (no memory is touched).
    const wasmMemory = {} as Record<'auto' | 'q8' | 'q4', { bytes: number; parts: number }>;
    for (const dtype of ['auto', 'q8', 'q4'] as const) {
      const plans = await planWasmMemory(ckpt, { dtype });
      wasmMemory[dtype] = { bytes: plans.reduce((a, p) => a + p.bytes, 0), parts: plans.length };
    }
    const info = {
      model: dir,
      config: c,
      parameters,
      weightBytes: ckpt.totalBytes,
      dtypes,
      ...(ggmlTypes ? { ggmlTypes } : {}),
      stateBytesPerSequence: 4 * (floats.conv + floats.ssm),
      savedStateBytes: stateBytes(c),
      eosTokenIds: generation.eosTokenIds,
      tokenizer,
      wasmMemory,
    };
    if (v.json) {
      process.stdout.write(JSON.stringify(info) + '\n');
      return 0;
    }
    const lines = [
      `model        ${dir}`,
      `type         ${c.modelType}`,
      `shape        dModel ${c.dModel} · dInner ${c.dInner} · dState ${c.dState} · dConv ${c.dConv} · dtRank ${c.dtRank} · nLayer ${c.nLayer} · vocabSize ${c.vocabSize}`,
      `options      normEps ${c.normEps} · ${c.dtBCNorm ? `dt/B/C rms norm (eps ${c.mixerRmsEps})` : 'no dt/B/C norm'} · bias ${c.useBias} · conv bias ${c.useConvBias} · tied head ${c.tieWordEmbeddings}`,
      `parameters   ${parameters.toLocaleString('en-US')} (${(parameters / 1e9).toFixed(3)} B)`,
      `weights      ${formatBytes(ckpt.totalBytes)} · ${Object.entries(ggmlTypes ?? dtypes).map(([d, b]) => `${d} ${formatBytes(b)}`).join(' · ')}${ggmlTypes ? ' (GGUF tensor types)' : ''}`,
      `wasm memory  ${(['auto', 'q8', 'q4'] as const).map((d) => `${d === 'auto' ? 'as stored' : d} ${formatBytes(wasmMemory[d].bytes)} in ${wasmMemory[d].parts} part${wasmMemory[d].parts > 1 ? 's' : ''}`).join(' · ')} (weights + scratch for ${DEFAULT_CHUNK_SIZE}-token chunks)`,
      `state        ${formatBytes(4 * (floats.conv + floats.ssm))} per sequence (conv ${floats.conv.toLocaleString('en-US')} + ssm ${floats.ssm.toLocaleString('en-US')} f32), whatever its length`,
      `eos ids      [${generation.eosTokenIds.join(', ')}]`,
      `tokenizer    ${tokenizer ? `vocab ${tokenizer.vocabSize} · chat template ${tokenizer.chatTemplate ? 'yes' : 'no'}${tokenizer.eosToken ? ` · eos ${JSON.stringify(tokenizer.eosToken)}` : ''}` : (gguf ? 'none (no tokenizer.ggml.* metadata)' : 'none (no tokenizer.json)')}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
