/**
 * GET /metrics: the Prometheus text exposition format (prometheus.io/docs/instrumenting/exposition_formats):
 * requests by endpoint and status, tokens in and out, cache hits, bytes and entries, queue length, running
 * sequences, decode tokens/s and the batched decode steps by batch size. Counters live in one object per server (no module state).
 */
import type { StateCache } from './cache.ts';
import type { Scheduler } from './scheduler.ts';

/** Per-server request counters. */
export class Metrics {
  private readonly requests = new Map<string, number>();
  /** Sum of request durations (s) and their count, per endpoint. */
  private readonly durations = new Map<string, { sum: number; count: number }>();

  /** Counts one answered request. */
  request(endpoint: string, status: number, seconds: number): void {
    const key = `endpoint="${endpoint}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const d = this.durations.get(endpoint) ?? { sum: 0, count: 0 };
    d.sum += seconds;
    d.count++;
    this.durations.set(endpoint, d);
  }

  /** The exposition text. */
  render(scheduler: Scheduler, cache: StateCache | null): string {
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels ? `{${labels}}` : ''} ${Number.isFinite(v) ? v : 0}`);
    };
    const s = scheduler.stats;
    metric('falcon_mamba_requests_total', 'counter', 'HTTP requests answered, by endpoint and status.', [...this.requests]);
    metric('falcon_mamba_request_duration_seconds_sum', 'counter', 'Total time spent answering requests, by endpoint.', [...this.durations].map(([e, d]) => [`endpoint="${e}"`, d.sum]));
    metric('falcon_mamba_request_duration_seconds_count', 'counter', 'Requests timed, by endpoint.', [...this.durations].map(([e, d]) => [`endpoint="${e}"`, d.count]));
    metric('falcon_mamba_prompt_tokens_total', 'counter', 'Prompt tokens of all requests (cached ones included).', [['', s.promptTokens]]);
    metric('falcon_mamba_cached_prompt_tokens_total', 'counter', 'Prompt tokens restored from the state cache instead of fed.', [['', s.cachedTokens]]);
    metric('falcon_mamba_generated_tokens_total', 'counter', 'Tokens generated.', [['', s.generatedTokens]]);
    metric('falcon_mamba_jobs_failed_total', 'counter', 'Generations that failed with an error.', [['', s.failed]]);
    metric('falcon_mamba_jobs_aborted_total', 'counter', 'Generations aborted (client gone, shutdown).', [['', s.aborted]]);
    metric('falcon_mamba_queue_length', 'gauge', 'Requests waiting for the model.', [['', scheduler.queued]]);
    metric('falcon_mamba_running_sequences', 'gauge', 'Sequences generating now.', [['', scheduler.sequences]]);
    metric('falcon_mamba_decode_tokens_per_second', 'gauge', 'Decode speed over the whole run (tokens per second of decode model calls).', [['', s.decodeMs > 0 ? (s.decodeTokens * 1000) / s.decodeMs : 0]]);
    metric('falcon_mamba_decode_steps_total', 'counter', 'Batched decode calls (one pass over the weights each), by the number of sequences they advanced.', s.batchSizes.flatMap((n, b) => (n ? [[`batch_size="${b}"`, n] as [string, number]] : [])));
    if (cache) {
      const c = cache.stats;
      metric('falcon_mamba_cache_hits_total', 'counter', 'Prompts that reused a cached state.', [['tier="any"', c.hits], ['tier="disk"', c.diskHits]]);
      metric('falcon_mamba_cache_misses_total', 'counter', 'Prompts with no cached prefix.', [['', c.misses]]);
      metric('falcon_mamba_cache_stores_total', 'counter', 'Snapshots stored.', [['', c.stores]]);
      metric('falcon_mamba_cache_evictions_total', 'counter', 'Snapshots evicted (memory and disk).', [['', c.evictions]]);
      metric('falcon_mamba_cache_disk_errors_total', 'counter', 'Directory-tier reads or writes that failed.', [['', c.diskErrors]]);
      metric('falcon_mamba_cache_bytes', 'gauge', 'Bytes of snapshots held.', [['tier="memory"', cache.bytes], ['tier="disk"', cache.dirBytes]]);
      metric('falcon_mamba_cache_entries', 'gauge', 'Snapshots held in memory.', [['', cache.entries]]);
    }
    return lines.join('\n') + '\n';
  }
}
