/**
 * A policy endpoint made of two scripted policy servers: each chat request goes to the "even" or
 * the "odd" server by the parity of its episode's seed. One task can then be solved on some samples
 * and failed on others (groups with non-zero advantage), deterministically — what the training loop
 * needs to have something to learn from while the real tiny model cannot solve toy tasks.
 *
 * Used by the loop's integration tests and by `swerl demo`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeedRouterOptions {
  /**
   * Answer POST /v1/load {checkpoint} itself (as the trainer's policy server does) instead of
   * forwarding it: the trainer's load_policy activity hot-reloads "the policy server" before
   * rollouts, and a scripted policy has no weights to load, so the load is acknowledged and recorded.
   */
  acceptLoads?: boolean;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port (default: any free one); a restarted router keeps the URL its clients know. */
  port?: number;
}

export interface SeedRouter {
  url: string;
  /** Checkpoints acknowledged through /v1/load, in order (only with acceptLoads). */
  loads(): string[];
  close(): Promise<void>;
}

/** The episode's own seed: the episode sends seed + turn (activities/episode), turn = assistant messages so far. */
function episodeSeedOf(body: string): number {
  try {
    const parsed = JSON.parse(body || '{}') as { seed?: number; messages?: Array<{ role?: string }> };
    const turn = (parsed.messages ?? []).filter((m) => m.role === 'assistant').length;
    return Number(parsed.seed ?? 0) - turn;
  } catch {
    return 0; // not JSON: the even server answers with its own error
  }
}

/** Routes each chat request to `even` or `odd` (base URLs) by the parity of its episode's seed. */
export async function startParityProxy(even: string, odd: string, opts: SeedRouterOptions = {}): Promise<SeedRouter> {
  const loads: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (opts.acceptLoads && req.method === 'POST' && req.url === '/v1/load') {
        let checkpoint: unknown;
        try {
          checkpoint = (JSON.parse(body) as { checkpoint?: unknown }).checkpoint;
        } catch {
          checkpoint = undefined;
        }
        if (typeof checkpoint !== 'string' || checkpoint === '') {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: 'POST /v1/load needs {"checkpoint": "<id>"}', type: 'invalid_request_error' } }));
          return;
        }
        loads.push(checkpoint);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ checkpoint_id: checkpoint, loaded: true }));
        return;
      }
      const target = episodeSeedOf(body) % 2 === 0 ? even : odd;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      fetch(target + (req.url ?? '/'), { method: req.method, headers, body: req.method === 'GET' ? undefined : body })
        .then(async (r) => {
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(Buffer.from(await r.arrayBuffer()));
        })
        .catch((err: unknown) => {
          res.writeHead(502);
          res.end(String(err));
        });
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    loads: () => [...loads],
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
