// Sampling: logits → one token id. Run: npx tsx docs/examples/sampling.ts
import { argmax, sampleToken, xoshiro128ss } from '../../src/index.ts';

const logits = () => Float32Array.from([1.0, 3.0, 2.5, -1.0, 0.5]);

console.log('greedy:', argmax(logits()));
console.log('temperature 0 is greedy:', sampleToken(logits(), [], { temperature: 0 }, xoshiro128ss(1)) === 1);

// A seeded generator makes sampling reproducible.
const draw = (seed: number) => {
  const random = xoshiro128ss(seed);
  return Array.from({ length: 12 }, () => sampleToken(logits(), [], { temperature: 0.8, topK: 3, topP: 0.95 }, random));
};
const a = draw(42);
console.log('same seed, same tokens:', a.join(',') === draw(42).join(','));
// top-k 3 keeps ids 1, 2, 0 only.
console.log('only top-3 ids drawn:', a.every((id) => id === 0 || id === 1 || id === 2));
