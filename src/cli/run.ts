#!/usr/bin/env node
// The `falcon-mamba` executable: the package's `bin` is this file compiled (dist/cli/run.js, plain Node, no
// loader). In a checkout, src/cli/bin.js runs it through tsx; Deno runs src/cli/main.ts directly.
import process from 'node:process';
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
