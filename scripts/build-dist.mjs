// `npm run build:dist` (and `prepack`): the package's dist/ from src/. tsc compiles the TypeScript (ESM + .d.ts,
// `.ts` imports rewritten to `.js`; tsconfig.build.json); the hand-written JavaScript modules and their
// declarations (the kernel worker, src/wasm/jobs.js …) are copied beside them, since tsc neither compiles nor
// copies them. src/cli/bin.js, the checkout's tsx launcher, stays out: the package's bin is dist/cli/run.js.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

const copied = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const rel = relative(src, path);
    if (statSync(path).isDirectory()) walk(path);
    else if ((name.endsWith('.js') || name.endsWith('.d.ts')) && rel !== join('cli', 'bin.js')) {
      cpSync(path, join(dist, rel));
      copied.push(rel);
    }
  }
};
walk(src);
console.log(`dist/: tsc output + ${copied.join(', ')}`);
