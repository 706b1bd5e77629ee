#!/usr/bin/env node
// The `falcon-mamba` executable in a checkout, from the TypeScript sources as they are: register tsx (a dev
// dependency), then run src/cli/run.ts. The published package runs the compiled dist/cli/run.js instead.
import { register } from 'tsx/esm/api';

register();
await import('./run.ts');
