/**
 * Running `gbp serve` as a process: one HTTP server (server.ts), or one per worker on a shared port
 * (Node's cluster, like nginx's worker_processes). "Listening" is announced only once every worker
 * listens; a worker that cannot (the port is in use) ends the whole with its reason. SIGINT and
 * SIGTERM stop it cleanly: workers first, idle keep-alive connections closed.
 */
import cluster from 'node:cluster';
import { GbpError } from '../errors.js';
import { serveStore } from './server.js';

export interface ServeOptions {
  port: number;
  bind: string;
  workers: number;
  /** Called once, in the primary, when clients can connect. */
  onListening(url: string, workers: number): void;
}

export async function runServer(root: string, o: ServeOptions): Promise<void> {
  if (cluster.isPrimary && o.workers > 1 && o.port !== 0) return runPrimary(o);
  const server = serveStore(root);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new GbpError('usage', `${o.bind}:${o.port}`, err.code === 'EADDRINUSE' ? 'the port is in use (another server?); choose another with --port' : `cannot listen: ${err.code ?? err.message}`)),
    );
    server.listen(o.port, o.bind, () => resolve());
  });
  const address = server.address() as { address: string; port: number };
  if (cluster.isPrimary) o.onListening(`http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`, 1);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        server.close(() => resolve());
        server.closeAllConnections(); // idle keep-alive connections would hold the close open
      });
    }
  });
  if (cluster.isWorker) process.exit(0); // the IPC channel to the primary would keep it alive
}

/** The primary only keeps its workers running; each serves on the shared port. */
async function runPrimary(o: ServeOptions): Promise<void> {
  // The stop signals are taken before any worker starts: in cluster mode the shared socket accepts
  // as soon as the first worker listens, so a client (or a supervisor) can send SIGTERM before the
  // last one does, and the default action would kill the primary and orphan its workers.
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        stopping = true;
        const alive = Object.values(cluster.workers ?? {}).filter((w) => !!w && !w.isDead());
        let left = alive.length;
        if (!left) resolve();
        for (const w of alive) {
          w!.once('exit', () => --left === 0 && resolve());
          w!.process.kill('SIGTERM');
        }
      });
    }
  });
  const workers = Array.from({ length: o.workers }, () => cluster.fork());
  const ready = new Promise<'ready'>((resolve, reject) => {
    let listening = 0;
    for (const w of workers) {
      w.once('listening', () => ++listening === workers.length && resolve('ready'));
      w.once('exit', (code) => {
        if (listening === workers.length || stopping) return;
        for (const other of workers) other.process.kill('SIGTERM');
        reject(new GbpError('usage', `${o.bind}:${o.port}`, `cannot listen (worker exited with ${code})`, true));
      });
    }
  });
  if ((await Promise.race([ready, stopped.then(() => 'stopped' as const)])) === 'stopped') return;
  o.onListening(`http://${o.bind}:${o.port}`, o.workers);
  await stopped;
}
