/**
 * Progress of loading the weights, on stderr: a bar with bytes, rate and ETA on a terminal; a few plain lines
 * (the start, one every {@link PLAIN_EVERY_MS}, the end) when stderr is a file or a pipe, so that logs show it too.
 * Byte counts everywhere in the CLI are decimal: kB, MB, GB = 10^3, 10^6, 10^9 bytes (as disk sizes are sold and
 * as the README states model sizes).
 */
import process from 'node:process';

/** `532 B`, `9.1 MB`, `14.52 GB` (decimal units). */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** `42 s`, `3 min 05 s`, or `–` when unknown. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '–';
  if (s < 60) return `${Math.ceil(s)} s`;
  return `${Math.floor(s / 60)} min ${String(Math.ceil(s % 60)).padStart(2, '0')} s`;
}

/** Plain progress lines come at most this often. */
export const PLAIN_EVERY_MS = 10_000;

/** Reports a load's progress (loaded of total bytes) until it is stopped. */
export interface LoadProgressReporter {
  update(loaded: number, total: number): void;
  /** The load ended (`ok`: all of it read). */
  stop(ok: boolean): void;
}

/**
 * A reporter for a load whose phase is `phase` (e.g. `loading weights`, `loading + quantizing to q8`): a
 * cli-progress bar when stderr is a terminal, else plain lines.
 */
export async function loadProgress(phase: string, stream: NodeJS.WriteStream = process.stderr): Promise<LoadProgressReporter> {
  const t0 = performance.now();
  const stats = (loaded: number, total: number) => {
    const s = (performance.now() - t0) / 1000;
    const rate = s > 0 ? loaded / s : 0;
    return { rateText: rate > 0 ? `${formatBytes(rate)}/s` : '–', etaText: rate > 0 ? formatSeconds((total - loaded) / rate) : '–', seconds: s };
  };
  if (!stream.isTTY) {
    let started = false;
    let last = 0;
    let loaded = 0;
    let total = 0;
    return {
      update(l, t) {
        loaded = l;
        total = t;
        const now = performance.now();
        if (!started) {
          started = true;
          last = now;
          stream.write(`falcon-mamba: ${phase}: ${formatBytes(t)}\n`);
        } else if (now - last >= PLAIN_EVERY_MS && l < t) {
          last = now;
          const { rateText, etaText } = stats(l, t);
          stream.write(`falcon-mamba: ${phase}: ${Math.floor((100 * l) / t)}% (${formatBytes(l)} of ${formatBytes(t)}, ${rateText}, ETA ${etaText})\n`);
        }
      },
      stop(ok) {
        if (!started || !ok) return;
        const { rateText, seconds } = stats(loaded, total);
        stream.write(`falcon-mamba: ${phase}: done, ${formatBytes(total)} in ${seconds.toFixed(2)} s (${rateText})\n`);
      },
    };
  }
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${phase} |{bar}| {percentage}% {loadedText} of {totalText} · {rateText} · ETA {etaText}`,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(loaded, total) {
      const payload = { loadedText: formatBytes(loaded), totalText: formatBytes(total), ...stats(loaded, total) };
      if (!started) {
        bar.start(total, 0, payload);
        started = true;
      }
      bar.update(loaded, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
