import { defineConfig } from 'vitest/config';

// Specs live in spec/ and mirror src/. Model-level specs run real forward passes, so the default 5 s is too short.
export default defineConfig({
  test: {
    include: ['spec/**/*.spec.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['spec/helpers/tmp-setup.ts'],
  },
});
