/**
 * A pass-through HTTP proxy in front of the test RGW, speaking the real protocol both ways. Tests
 * use it to see each request, to hold some back, to answer some with S3's throttling error (503 SlowDown) the way a
 * loaded server does, and to learn when uploads are under way. Requests keep their Host header, so
 * SigV4 signatures stay valid.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxyOptions {
  /** Answer this request with 503 SlowDown instead of forwarding it. */
  throttle?: (req: IncomingMessage, n: number) => boolean;
  /** Called for each forwarded request (after it completes), with the server's status. */
  onRequest?: (method: string, path: string, status: number) => void;
  /** Called for each request as it arrives, before anything of it is forwarded. */
  onStart?: (method: string, path: string) => void;
  /** Milliseconds to hold this request before forwarding it, as a slow or congested link would. */
  hold?: (method: string, path: string) => number;
}

export async function startS3Proxy(target: string, options: ProxyOptions = {}) {
  const to = new URL(target);
  let n = 0;
  const seen = { total: 0, throttled: 0, byMethod: {} as Record<string, number> };
  const server = createServer((req, res) => {
    n++;
    options.onStart?.(req.method!, req.url!);
    if (options.throttle?.(req, n)) {
      seen.throttled++;
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      });
      return;
    }
    const holdMs = options.hold?.(req.method!, req.url!) ?? 0;
    if (holdMs <= 0) return forward(req, res);
    req.pause();
    setTimeout(() => forward(req, res), holdMs);
  });
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on('end', () => {
          seen.total++;
          seen.byMethod[req.method!] = (seen.byMethod[req.method!] ?? 0) + 1;
          options.onRequest?.(req.method!, req.url!, up.statusCode ?? 0);
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
