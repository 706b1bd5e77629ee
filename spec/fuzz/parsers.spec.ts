/**
 * Fuzz every parser of untrusted input: each generated case either succeeds or throws one of the
 * project's errors (src/errors.ts), never a TypeError, RangeError or hang. Fixed seed in CI; set FUZZ_RUNS
 * (e.g. FUZZ_RUNS=20000) for a longer local run.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { FalconMambaError } from '../../src/errors.ts';
import { parseConfig } from '../../src/config.ts';
import { parseGenerationConfig } from '../../src/generate/config.ts';
import { parseSafetensorsHeader } from '../../src/io/safetensors.ts';
import { decodeState } from '../../src/state.ts';
import { compilePattern } from '../../src/tokenizer/pattern.ts';
import { renderChatTemplate, Tokenizer } from '../../src/tokenizer/index.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = 15;

/** Runs `f`; any throw that is not a FalconMambaError fails the property. */
function onlyOwnErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof FalconMambaError)) throw e;
  }
}

const json = fc.jsonValue({ maxDepth: 4 });
const numberish = fc.oneof(fc.integer(), fc.double(), fc.constant(null), fc.string(), fc.constant(1e300), fc.constant(-0));
const small = { model_type: 'mamba', hidden_size: 8, intermediate_size: 16, state_size: 4, conv_kernel: 4, time_step_rank: 2, num_hidden_layers: 2, vocab_size: 10 };
const config = parseConfig(small);

describe('fuzz: parsers end in a project error or succeed', () => {
  it('config.json', () => {
    const keys = Object.keys(small).concat(['expand', 'layer_norm_epsilon', 'tie_word_embeddings', 'eos_token_id', 'hidden_act']);
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...keys), fc.oneof(numberish, json)), fc.boolean(), (patch, base) => {
        onlyOwnErrors(() => parseConfig(base ? { ...small, ...patch } : patch));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
  it('generation_config.json', () => {
    const keys = ['do_sample', 'temperature', 'top_k', 'top_p', 'min_p', 'repetition_penalty', 'max_new_tokens', 'eos_token_id', 'bos_token_id'];
    fc.assert(
      fc.property(fc.oneof(fc.dictionary(fc.constantFrom(...keys), fc.oneof(numberish, json)), json), (raw) => {
        onlyOwnErrors(() => parseGenerationConfig(raw, config, 'g.json'));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
  it('safetensors headers', () => {
    const entry = fc.record({
      dtype: fc.oneof(fc.constantFrom('F32', 'BF16', 'F16', 'toString', 'I8', '__proto__'), json),
      shape: fc.oneof(fc.array(fc.integer({ min: -2, max: 6 }), { maxLength: 4 }), json),
      data_offsets: fc.oneof(fc.tuple(fc.nat(64), fc.nat(64)), json),
    }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(entry, json)).map((o) => JSON.stringify(o)), fc.string()), fc.nat(200), (text, size) => {
        onlyOwnErrors(() => parseSafetensorsHeader(text, 0, size, 'x.safetensors'));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
  it('state bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        onlyOwnErrors(() => decodeState(config, bytes));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
  it('tokenizer patterns (Split and Replace)', () => {
    const piece = fc.constantFrom('a', 'b', '\\', '\\p{L', '\\p{N}', '\\pL', '\\s', '\\w', '(', ')', '(?i:', '(?:', '(?!', '[', ']', '^', '-', '|', '*', '+', '?', '{2}', '{1,', '}', '$', '.', ' ', '中');
    const tokenizerWith = (regex: string) => ({
      model: { type: 'BPE', vocab: { a: 0, b: 1 }, merges: [] },
      normalizer: { type: 'Replace', pattern: { Regex: regex }, content: 'ab' },
      pre_tokenizer: { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated' },
      decoder: null,
    });
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }).map((p) => p.join('')), fc.string({ maxLength: 40 }), (regex, text) => {
        onlyOwnErrors(() => compilePattern({ Regex: regex }, 'p'));
        onlyOwnErrors(() => Tokenizer.fromJSON(tokenizerWith(regex)).encode(text));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
  it('tokenizer.json normalizers, pre-tokenizers and added tokens', () => {
    const norm = fc.oneof(
      fc.record({ type: fc.constantFrom('NFC', 'NFKD', 'Lowercase', 'StripAccents', 'Strip', 'Prepend', 'Append'), prepend: fc.string({ maxLength: 5 }), append: fc.string({ maxLength: 5 }) }),
      fc.record({ type: fc.constant('Replace'), pattern: fc.record({ String: fc.string({ maxLength: 3 }) }), content: fc.string({ maxLength: 8 }) }),
      json,
    );
    const pre = fc.oneof(
      fc.record({ type: fc.constantFrom('ByteLevel', 'Whitespace', 'WhitespaceSplit', 'Punctuation', 'Digits', 'Metaspace', 'BertPreTokenizer'), add_prefix_space: fc.boolean(), replacement: fc.string({ maxLength: 2 }) }),
      fc.record({ type: fc.constant('CharDelimiterSplit'), delimiter: fc.string({ maxLength: 2 }) }),
      json,
    );
    const added = fc.array(fc.record({ id: fc.oneof(fc.nat(5), json), content: fc.string({ maxLength: 4 }), lstrip: fc.boolean(), rstrip: fc.boolean(), single_word: fc.boolean(), normalized: fc.boolean(), special: fc.boolean() }), { maxLength: 3 });
    fc.assert(
      fc.property(fc.array(norm, { maxLength: 3 }), fc.array(pre, { maxLength: 3 }), added, fc.string({ maxLength: 40 }), (ns, ps, at, text) => {
        onlyOwnErrors(() => {
          const t = Tokenizer.fromJSON({
            model: { type: 'BPE', vocab: { a: 0, b: 1, 'Ġ': 2 }, merges: [] },
            normalizer: { type: 'Sequence', normalizers: ns },
            pre_tokenizer: { type: 'Sequence', pretokenizers: ps },
            added_tokens: at,
            decoder: null,
          });
          t.encode(text);
        });
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
  it('chat templates', () => {
    const piece = fc.constantFrom('x', '{{ ', ' }}', '{% ', ' %}', 'for i in range(', '9', '1000000', ')', 'endfor', 'if ', 'endif', 'messages', '[0]', '.content', ' + ', '~', 'set s = ', "'ab'", 's', '|upper', '|join', 'macro f(n)', 'endmacro', 'f(', 'raise_exception(', 'loop.index', ' * ', '(', ']', '%}');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 16 }).map((p) => p.join('')), (template) => {
        onlyOwnErrors(() => renderChatTemplate(template, [{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
});
