#!/usr/bin/env node
// The `falcon-mamba` executable under Node: register tsx so that the TypeScript sources run as they are, then
// hand over to main.ts. (Under Deno run src/cli/main.ts directly.)
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
