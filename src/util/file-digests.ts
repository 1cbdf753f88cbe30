/**
 * SHA-256, SHA-512 and BLAKE2b of a file, worked out in a worker thread: the three together run at
 * about 200 MB/s, so on the read loop a 2 GB stage4 would cost ten seconds of the pull; off it,
 * they run beside the rest of the archive's reading, on the other core. One file at a time: the
 * main thread keeps the other core busy.
 */
import { Worker } from 'node:worker_threads';

export interface FileDigests {
  sha256: string;
  sha512: string;
  blake2b: string;
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { createReadStream } = require('node:fs');
const h = [createHash('sha256'), createHash('sha512'), createHash('blake2b512')];
createReadStream(workerData, { highWaterMark: 1 << 20 })
  .on('data', (c) => { for (const x of h) x.update(c); })
  .on('error', (e) => { throw e; })
  .on('end', () => parentPort.postMessage(h.map((x) => x.digest('hex'))));
`;

let queue: Promise<unknown> = Promise.resolve();

export function digestFile(path: string): Promise<FileDigests> {
  const run = () =>
    new Promise<FileDigests>((resolve, reject) => {
      const w = new Worker(WORKER, { eval: true, workerData: path });
      w.once('message', ([sha256, sha512, blake2b]: string[]) => resolve({ sha256, sha512, blake2b }));
      w.once('error', reject);
      w.once('exit', (code) => code !== 0 && reject(new Error(`digest worker exited with ${code}`)));
    });
  const next = queue.then(run, run);
  queue = next.catch(() => {});
  return next;
}
