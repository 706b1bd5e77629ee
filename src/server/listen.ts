/**
 * Runs a fetch handler as an HTTP server: `Deno.serve` under Deno, @hono/node-server under Node. Resolves once
 * the socket listens; `close` stops accepting, waits for open responses to end, and drops idle keep-alive
 * connections so the process can exit.
 */
type Fetch = (request: Request) => Promise<Response>;

interface DenoLike {
  serve(options: { hostname: string; port: number; onListen?: (addr: { hostname: string; port: number }) => void }, handler: Fetch): {
    finished: Promise<void>;
    shutdown(): Promise<void>;
    addr: { hostname: string; port: number };
  };
}

/** Where the server listens and how to stop it. */
export interface Listener {
  url: string;
  hostname: string;
  port: number;
  close(): Promise<void>;
}

function url(hostname: string, port: number): string {
  return `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`;
}

/** Listens on `hostname:port` (port 0: a free one). */
export async function listen(fetch: Fetch, hostname: string, port: number): Promise<Listener> {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (deno) {
    let resolve!: (a: { hostname: string; port: number }) => void;
    const ready = new Promise<{ hostname: string; port: number }>((r) => (resolve = r));
    const server = deno.serve({ hostname, port, onListen: resolve }, fetch);
    const addr = await ready;
    return { url: url(hostname, addr.port), hostname, port: addr.port, close: () => server.shutdown() };
  }
  const { serve } = await import('@hono/node-server');
  return await new Promise<Listener>((resolve, reject) => {
    const server = serve({ fetch, hostname, port }, (info) => {
      resolve({
        url: url(hostname, info.port),
        hostname,
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            const s = server as unknown as { close(cb: () => void): void; closeIdleConnections?: () => void; closeAllConnections?: () => void };
            s.close(() => done());
            s.closeIdleConnections?.();
            // Requests have ended by now (the app closes its listener last); a socket whose client vanished
            // mid-stream may still count as busy, so drop what is left after a moment.
            const t = setTimeout(() => s.closeAllConnections?.(), 100);
            t.unref?.();
          }),
      });
    });
    (server as unknown as { once(e: string, f: (err: Error) => void): void }).once('error', reject);
  });
}
