// Falcon's byte-level BPE: text → ids → text. Run: npx tsx docs/examples/tokenizer.ts
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '../../src/index.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tok = await Tokenizer.fromFile(path.resolve(repo, '../shared/tokenizers/falcon/tokenizer.json'));

const text = "Hello world, it's 2024!";
const ids = tok.encode(text);
// Each id's token: 'Ġ' is the byte-level stand-in for a space byte (0x20).
console.log('tokens:', ids.map((id) => tok.idToToken(id)).join(' | '));
console.log('ids:', ids.join(' '));
console.log('roundtrip:', tok.decode(ids) === text);
