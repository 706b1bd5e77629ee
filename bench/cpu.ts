/**
 * CPU accounting shared by the bench processes, to tell how much other work ran while something was timed, and
 * the best-of-N timer of the kernel benches.
 */
import { readFileSync } from 'node:fs';

/** Busy CPU seconds of the whole machine so far (user, nice, system, irq, softirq, steal; Linux /proc/stat), or null. */
export function machineBusy(): number | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100; // USER_HZ
  } catch {
    return null;
  }
}

/** This process's CPU seconds (all its threads). */
export function ownBusy(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Best of `reps` timed calls of `fn` in ms, after one untimed warm-up call (tier-up, page faults). */
export function bestMs(reps: number, fn: () => void): number {
  fn();
  let b = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}
