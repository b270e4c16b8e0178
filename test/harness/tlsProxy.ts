/**
 * A TLS front for the plaintext Temporal dev server: terminates TLS (ALPN h2, as gRPC clients ask)
 * with the given server certificate, optionally requires a client certificate signed by `ca`, and
 * pipes the decrypted bytes to the dev server. It stands where a TLS-enabled Temporal frontend
 * stands, so swerl's processes are tested with real handshakes; it counts what it saw.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface TlsProxy {
  readonly address: string;
  /** Connections that completed the handshake, by the client certificate's CN ('' without one). */
  readonly authorized: string[];
  /** Handshakes the proxy refused (no or untrusted client certificate, or the client gave up). */
  readonly refused: string[];
  close(): Promise<void>;
}

export async function startTlsProxy(opts: { target: string; key: Buffer; cert: Buffer; ca?: Buffer; requireClientCert: boolean }): Promise<TlsProxy> {
  const [host, port] = [opts.target.slice(0, opts.target.lastIndexOf(':')), Number(opts.target.slice(opts.target.lastIndexOf(':') + 1))];
  const authorized: string[] = [];
  const refused: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(
    { key: opts.key, cert: opts.cert, ca: opts.ca, requestCert: opts.requireClientCert, rejectUnauthorized: opts.requireClientCert, ALPNProtocols: ['h2'] },
    (socket) => {
      const peer = socket.getPeerCertificate();
      authorized.push(typeof peer?.subject?.CN === 'string' ? peer.subject.CN : '');
      const upstream = net.connect(port, host);
      for (const s of [socket, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      socket.pipe(upstream).pipe(socket);
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
    },
  );
  server.on('tlsClientError', (err) => refused.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${own}`,
    authorized,
    refused,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
