/** The evaluation functions live in src/eval/; this path stays for existing imports. */
export * from './eval/index.ts';
