/**
 * The tokenizer of a GGUF file (`tokenizer.ggml.*` metadata) → this project's {@link Tokenizer}, with the same
 * ids as the model's tokenizer.json.
 *
 * llama.cpp's converter (convert_hf_to_gguf.py `_set_vocab_gpt2`) writes a byte-level BPE tokenizer as:
 * `tokenizer.ggml.model = "gpt2"`; `tokens` (every id's token string, in the byte-level alphabet, as in
 * tokenizer.json's `model.vocab`; ids absent there as `[PAD<id>]`); `token_type` per id (1 normal, 2 unknown,
 * 3 control = an added token marked special, 4 user-defined = an added token not special, 5 unused = padding,
 * 6 byte); `merges` ("a b", in rank order); `pre`, the name of the pre-tokenizer (llama.cpp finds it by hashing
 * the tokenization of a test text; "falcon" for Falcon and FalconMamba); `bos_token_id`, `eos_token_id`, …;
 * and `tokenizer.chat_template`.
 *
 * The tokenizer.json rebuilt from it: a BPE model with the normal tokens and the merges; the control and
 * user-defined tokens as added tokens (special = control), cut out of the text before BPE as HF does; the
 * pre-tokenizer named by `pre` (below, with HF's definition of each); the byte-level decoder. Unused padding ids
 * are left out of the vocabulary, as HF has no token there.
 */
import { TokenizerError } from '../errors.ts';
import { readGgufHeader, type GgufValue } from '../io/gguf.ts';
import { loadTokenizerFiles, type TokenizerFiles } from './files.ts';
import { Tokenizer, type TokenizerOptions } from './tokenizer.ts';

/** llama.cpp's token types (llama.h `llama_token_type`). */
const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };

/**
 * HF pre-tokenizers of the `pre` names this project knows. "falcon" is Falcon's tokenizer.json; "default" and
 * "gpt2" are GPT-2's plain byte-level split (its regex), which llama.cpp uses when `pre` is missing.
 */
const PRE_TOKENIZERS: Record<string, unknown> = {
  falcon: {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Punctuation', behavior: 'Contiguous' },
      BYTE_LEVEL,
      { type: 'Digits', individual_digits: false },
      { type: 'Split', pattern: { Regex: '[0-9][0-9][0-9]' }, behavior: 'Isolated', invert: false },
    ],
  },
  default: BYTE_LEVEL,
  gpt2: BYTE_LEVEL,
};

function stringList(meta: Map<string, GgufValue>, key: string, source: string): string[] {
  const v = meta.get(key);
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new TokenizerError(`${source}: metadata "${key}" must be an array of strings`);
  return v as string[];
}

function optionalId(meta: Map<string, GgufValue>, key: string, source: string, n: number): number | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= n) throw new TokenizerError(`${source}: metadata "${key}" = ${String(v)} is not a token id below ${n}`);
  return v;
}

/** Does the metadata hold a tokenizer? */
export function hasGgufTokenizer(meta: Map<string, GgufValue>): boolean {
  return meta.has('tokenizer.ggml.model');
}

/**
 * The tokenizer.json object equivalent to a GGUF's `tokenizer.ggml.*` metadata.
 * @throws TokenizerError naming the key when the tokenizer is not a byte-level BPE this project runs.
 */
export function ggufTokenizerJson(meta: Map<string, GgufValue>, source: string): Record<string, unknown> {
  const model = meta.get('tokenizer.ggml.model');
  if (model !== 'gpt2') throw new TokenizerError(`${source}: tokenizer.ggml.model ${JSON.stringify(model)} is not supported (only "gpt2", byte-level BPE)`);
  const tokens = stringList(meta, 'tokenizer.ggml.tokens', source);
  const merges = stringList(meta, 'tokenizer.ggml.merges', source);
  const typesRaw = meta.get('tokenizer.ggml.token_type');
  if (typesRaw !== undefined && (!ArrayBuffer.isView(typesRaw) || (typesRaw as Int32Array).length !== tokens.length)) {
    throw new TokenizerError(`${source}: metadata "tokenizer.ggml.token_type" must be an integer array with one entry per token (${tokens.length})`);
  }
  const types = (typesRaw as Int32Array | undefined) ?? new Int32Array(tokens.length).fill(TOKEN_TYPE.NORMAL);
  const preName = meta.get('tokenizer.ggml.pre') ?? 'default';
  if (typeof preName !== 'string' || !(preName in PRE_TOKENIZERS)) {
    throw new TokenizerError(`${source}: tokenizer.ggml.pre ${JSON.stringify(preName)} is not supported (${Object.keys(PRE_TOKENIZERS).join(', ')})`);
  }
  const vocab: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  for (let id = 0; id < tokens.length; id++) {
    const t = types[id];
    if (t === TOKEN_TYPE.UNUSED) continue;
    if (t === TOKEN_TYPE.CONTROL || t === TOKEN_TYPE.USER_DEFINED) {
      added.push({ id, content: tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: t === TOKEN_TYPE.CONTROL });
    } else if (t !== TOKEN_TYPE.NORMAL && t !== TOKEN_TYPE.BYTE) {
      throw new TokenizerError(`${source}: token ${id} has type ${t}, which a byte-level BPE does not use`);
    }
    // HF keeps added tokens in the model's vocabulary too (Falcon's ids 0–11 are there).
    if (Object.hasOwn(vocab, tokens[id])) throw new TokenizerError(`${source}: token ${JSON.stringify(tokens[id])} appears twice (ids ${vocab[tokens[id]]} and ${id})`);
    vocab[tokens[id]] = id;
  }
  return {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: PRE_TOKENIZERS[preName],
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, vocab, merges,
    },
  };
}

/**
 * The tokenizer, chat template and special tokens of a GGUF file, in the shape {@link loadTokenizerFiles} gives
 * for a model folder (so chat and generation take either).
 */
export function ggufTokenizerFiles(meta: Map<string, GgufValue>, source: string, options: TokenizerOptions = {}): TokenizerFiles {
  const json = ggufTokenizerJson(meta, source);
  const tokenizer = Tokenizer.fromJSON(json, source, options);
  const n = stringList(meta, 'tokenizer.ggml.tokens', source).length;
  const template = meta.get('tokenizer.chat_template');
  if (template !== undefined && typeof template !== 'string') throw new TokenizerError(`${source}: tokenizer.chat_template must be a string`);
  const bosTokenId = optionalId(meta, 'tokenizer.ggml.bos_token_id', source, n);
  const eosTokenId = optionalId(meta, 'tokenizer.ggml.eos_token_id', source, n);
  const padTokenId = optionalId(meta, 'tokenizer.ggml.padding_token_id', source, n);
  const unk = optionalId(meta, 'tokenizer.ggml.unknown_token_id', source, n);
  const tok = (id: number | undefined) => (id === undefined ? undefined : tokenizer.idToToken(id));
  const flag = (k: string) => (typeof meta.get(k) === 'boolean' ? (meta.get(k) as boolean) : undefined);
  return {
    tokenizer,
    chatTemplate: template,
    chatTemplates: template === undefined ? {} : { default: template },
    bosToken: tok(bosTokenId),
    eosToken: tok(eosTokenId),
    padToken: tok(padTokenId),
    unkToken: tok(unk),
    bosTokenId,
    eosTokenId,
    padTokenId,
    addBosToken: flag('tokenizer.ggml.add_bos_token'),
    addEosToken: flag('tokenizer.ggml.add_eos_token'),
    config: {},
  };
}

/**
 * The tokenizer files of a model path: a GGUF file's `tokenizer.ggml.*` metadata, or an HF folder's
 * tokenizer.json and friends ({@link loadTokenizerFiles}).
 * @throws TokenizerError when the file or folder has no tokenizer this project runs; CheckpointError for a bad GGUF header
 */
export async function loadModelTokenizer(path: string, options: TokenizerOptions = {}): Promise<TokenizerFiles> {
  if (!/\.gguf$/i.test(path)) return loadTokenizerFiles(path, options);
  const { metadata } = await readGgufHeader(path);
  if (!hasGgufTokenizer(metadata)) throw new TokenizerError(`${path}: no tokenizer in the file (no "tokenizer.ggml.model" metadata)`);
  return ggufTokenizerFiles(metadata, path, options);
}
