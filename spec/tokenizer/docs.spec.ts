/** The example table of docs/tokenizer.md is true: each row's text encodes to its tokens and ids. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../../src/tokenizer/index.ts';
import { FALCON_JSON, REPO_ROOT } from './oracle.ts';

const doc = readFileSync(path.join(REPO_ROOT, 'docs/tokenizer.md'), 'utf8');
const table = doc.slice(doc.indexOf('<!-- examples:begin'), doc.indexOf('<!-- examples:end'));
/** Cells are `code` spans of JSON; `\|` escapes a pipe inside a Markdown table. */
const rows = table
  .split('\n')
  .filter((l) => l.startsWith('| `'))
  .map((l) => {
    const cells = l.replace(/\\\|/g, '\u0000').split('|').slice(1, 4).map((c) => c.trim().replace(/\u0000/g, '|').replace(/^`|`$/g, ''));
    return { text: JSON.parse(cells[0]) as string, tokens: JSON.parse(cells[1]) as string[], ids: JSON.parse(cells[2]) as number[] };
  });

describe('docs/tokenizer.md examples', async () => {
  const tok = await Tokenizer.fromFile(FALCON_JSON);
  it('has examples', () => expect(rows.length).toBeGreaterThanOrEqual(15));
  for (const r of rows) {
    it(JSON.stringify(r.text), () => {
      const ids = tok.encode(r.text);
      expect(ids).toEqual(r.ids);
      expect(ids.map((i) => tok.idToToken(i))).toEqual(r.tokens);
    });
  }
});
