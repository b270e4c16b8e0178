/** Free loopback TCP ports for tests that start private stacks beside the shared one. */
import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port with the `count - 1` after it free too (the real Temporal server uses P..P+8). */
export async function freeRange(count: number, attempts = 50): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const free = await Promise.all(Array.from({ length: count }, (_, k) => isFree(base + k)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports found in ${attempts} tries`);
}
