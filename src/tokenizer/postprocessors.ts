/**
 * Post-processors: add special tokens around an encoded sequence (HF `tokenizers` src/processors/*.rs).
 * Only single sequences are supported (no pairs); only ids are produced. Falcon's is `null`, so nothing is added.
 */
import { TokenizerError } from '../errors.ts';

/** Adds special tokens to the ids of one sequence. */
export type PostProcessor = (ids: number[]) => number[];

type Json = Record<string, unknown>;

function specialIds(v: unknown, where: string): number[] {
  // Processors store special tokens as [token, id] (Bert/Roberta) or as {"id","ids","tokens"} (Template).
  if (Array.isArray(v) && typeof v[1] === 'number') return [v[1]];
  throw new TokenizerError(`${where}: expected [token, id], got ${JSON.stringify(v)}`);
}

/**
 * Build a post-processor from its tokenizer.json object; `null` adds nothing.
 * @throws TokenizerError naming an unsupported `type`.
 */
export function buildPostProcessor(cfg: unknown, where = 'post_processor'): PostProcessor | null {
  if (cfg === null || cfg === undefined) return null;
  const c = cfg as Json;
  switch (c.type) {
    case 'ByteLevel':
      return null; // only trims offsets, which we do not produce
    case 'BertProcessing':
    case 'RobertaProcessing': {
      const cls = specialIds(c.cls, `${where}.cls`);
      const sep = specialIds(c.sep, `${where}.sep`);
      return (ids) => [...cls, ...ids, ...sep];
    }
    case 'TemplateProcessing': {
      const single = c.single;
      const tokens = (c.special_tokens ?? {}) as Record<string, { ids?: unknown }>;
      if (!Array.isArray(single)) throw new TokenizerError(`${where}: TemplateProcessing without a "single" template`);
      const parts: (number[] | null)[] = single.map((p, i) => {
        const piece = p as { SpecialToken?: { id: string }; Sequence?: { id: string } };
        if (piece.Sequence) {
          if (piece.Sequence.id !== 'A') throw new TokenizerError(`${where}.single[${i}]: sequence ${piece.Sequence.id} in a single template`);
          return null;
        }
        if (piece.SpecialToken) {
          const t = tokens[piece.SpecialToken.id];
          if (!t || !Array.isArray(t.ids)) throw new TokenizerError(`${where}.single[${i}]: special token ${JSON.stringify(piece.SpecialToken.id)} is not in special_tokens`);
          return t.ids as number[];
        }
        throw new TokenizerError(`${where}.single[${i}]: unsupported template piece ${JSON.stringify(p)}`);
      });
      return (ids) => parts.flatMap((p) => (p === null ? ids : p));
    }
    case 'Sequence': {
      const list = c.processors;
      if (!Array.isArray(list)) throw new TokenizerError(`${where}: Sequence without a "processors" array`);
      const fns = list.map((p, i) => buildPostProcessor(p, `${where}.processors[${i}]`)).filter((f): f is PostProcessor => f !== null);
      return (ids) => fns.reduce((acc, f) => f(acc), ids);
    }
    default:
      throw new TokenizerError(`${where}: unsupported post_processor type ${JSON.stringify(c.type)}`);
  }
}
