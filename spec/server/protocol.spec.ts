// The chat encoder: remembering message prefixes changes nothing about the ids (the same ids and boundaries
// as encoding from scratch, turn after turn, with edits and regenerations), and falls back to one piece where a
// template rewrites earlier text.
import { beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/index.ts';
import { ChatEncoder, encodeChat, type ServerTokenizer } from '../../src/server/protocol.ts';
import { loadDemo, type Demo } from './helpers.ts';

let d: Demo;
beforeAll(async () => {
  d = await loadDemo();
  return () => d.model.dispose();
});

describe('ChatEncoder', () => {
  it('gives the ids and boundaries of a fresh encoding across a conversation, edits and regenerations', () => {
    const enc = new ChatEncoder(d.files, false);
    const conv: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }];
    const check = (m: ChatMessage[]) => {
      const fresh = encodeChat(d.files, m, false);
      expect(enc.encode(m)).toEqual(fresh);
      expect(fresh.ids).toEqual(d.files.tokenizer.encode(fresh.text)); // ChatML: per-message encoding = whole encoding
      expect(fresh.boundaries.length).toBe(m.length);
    };
    for (let turn = 0; turn < 6; turn++) {
      conv.push({ role: 'user', content: `Question ${turn}: what is ${turn} + ${turn}?` });
      check(conv);
      conv.push({ role: 'assistant', content: `It is ${2 * turn}.` });
      check(conv);
    }
    const edited = conv.map((m, i) => (i === 3 ? { ...m, content: 'An edited question.' } : m));
    check(edited);
    check(conv.slice(0, 5));
    check([...conv.slice(0, 5), { role: 'assistant', content: 'A regenerated reply.' }]);
  });

  it('a template whose renderings of shorter prefixes are not prefixes of the whole: boundaries only where they are', () => {
    // Puts the message count in front: every prefix renders a different first line.
    const t: ServerTokenizer = { ...d.files, chatTemplate: '{{ messages | length }}\n{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}' };
    const enc = new ChatEncoder(t, false);
    const m: ChatMessage[] = [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }];
    const e = enc.encode(m);
    expect(e.boundaries).toEqual([e.ids.length]); // only the whole history (this template adds no generation prompt)
    expect(e.ids).toEqual(d.files.tokenizer.encode(e.text));
    expect(enc.encode(m)).toEqual(e);
  });
});
