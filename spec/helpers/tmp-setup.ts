/**
 * vitest globalSetup: every spec's temp files (model folders, traces, tokenizer files) go under one fresh
 * directory, removed when the run ends, so no run leaves files behind in the system temp dir.
 * Spec workers are forked after this runs and inherit TMPDIR, which `os.tmpdir()` honours.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'falcon-mamba-specs-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  };
}
