/**
 * Hashes bytes on a worker thread, and writes them to a staged file there when asked: a pull's
 * main thread parses the tar stream, the threadpool inflates it, and this thread takes the
 * SHA-256 of the archive and the MD5, SHA-1 and SHA-256 of every package (and stages the new
 * ones). On the main thread those hashes and writes were a quarter of a next pull's CPU, and the
 * main thread was what the pull waited for (BENCHMARKS.md).
 *
 * Bytes go over in slabs: a chunk is copied into a free slab, the slab is moved (not copied) to the
 * worker, and the worker moves it back once hashed. So nothing is allocated per chunk (buffers
 * moved between threads escaped the worker's garbage collector: a pull grew to 940 MB), and what
 * is in flight is bounded by the slabs: `update` returns a promise to wait on when none is free.
 */
import { Worker } from 'node:worker_threads';

const SLAB = 256 << 10;
/** 8 MiB in flight: enough to keep the worker busy, too little to matter. */
const SLABS = 32;

/** The worker's side, plain CommonJS: evaluated as given, so it runs from src/ in tests as from dist/. */
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { closeSync, fsync, openSync, writeSync } = require('node:fs');
const jobs = new Map();
parentPort.on('message', (m) => {
  if (m.t === 'begin') {
    const job = { hashes: m.algorithms.map((a) => createHash(a)), fd: null, at: 0, error: null, durable: m.durable };
    jobs.set(m.id, job);
    try {
      if (m.file) job.fd = openSync(m.file, 'wx');
    } catch (err) {
      job.error = err;
    }
  } else if (m.t === 'data') {
    const job = jobs.get(m.id);
    const chunk = new Uint8Array(m.slab, 0, m.length);
    try {
      if (!job.error) {
        for (const h of job.hashes) h.update(chunk);
        for (let done = 0; job.fd !== null && done < chunk.length; ) done += writeSync(job.fd, chunk, done, chunk.length - done, job.at + done);
        job.at += chunk.length;
      }
    } catch (err) {
      job.error = err;
    }
    parentPort.postMessage({ t: 'ack', slab: m.slab }, [m.slab]);
  } else if (m.t === 'end') {
    const job = jobs.get(m.id);
    jobs.delete(m.id);
    const finish = (err) => {
      try {
        if (job.fd !== null) closeSync(job.fd);
      } catch (e) {
        err ??= e;
      }
      err ??= job.error;
      if (err) parentPort.postMessage({ t: 'failed', id: m.id, message: err.message, code: err.code });
      else parentPort.postMessage({ t: 'done', id: m.id, digests: job.hashes.map((h) => h.digest('hex')) });
    };
    // fsync in the threadpool, while the next package is hashed
    if (job.durable && job.fd !== null && !job.error) fsync(job.fd, (err) => finish(err));
    else finish(null);
  }
});
`;

/** One stream of bytes: hashed with the algorithms given, and written to `file` when one is. */
export interface HashJob {
  /** A promise when the worker is behind: the caller waits before sending more. */
  update(chunk: Buffer): void | Promise<void>;
  /** The hex digests, in the order of the algorithms, once every byte is hashed (and the file closed). */
  digest(): Promise<string[]>;
}

export class HashWorker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly free: ArrayBuffer[] = [];
  private slabs = 0;
  private waiting: (() => void)[] = [];
  private readonly results = new Map<number, { resolve: (d: string[]) => void; reject: (err: Error) => void }>();
  private failure: Error | null = null;

  /**
   * `file`: the bytes are written there too (created; it must not exist). `durable`: and fsynced
   * before the digests come back, so a store's barrier later finds nothing left to flush.
   */
  begin(algorithms: string[], file: string | null = null, durable = false): HashJob {
    const worker = this.start();
    const id = this.nextId++;
    worker.postMessage({ t: 'begin', id, algorithms, file, durable });
    let digest: Promise<string[]> | null = null;
    return {
      update: (chunk) => this.send(worker, id, chunk, 0),
      digest: () => {
        digest ??= new Promise<string[]>((resolve, reject) => {
          if (this.failure) return reject(this.failure);
          this.results.set(id, { resolve, reject });
          worker.postMessage({ t: 'end', id });
        });
        return digest;
      },
    };
  }

  /** Stops the thread; jobs not finished fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
    this.fail(new Error('the hashing thread was stopped'));
  }

  /** Posts `chunk` from `at` on, a slab at a time; waits for a slab when none is free. */
  private send(worker: Worker, id: number, chunk: Buffer, at: number): void | Promise<void> {
    while (at < chunk.length) {
      if (this.failure) throw this.failure;
      const slab = this.free.pop() ?? (this.slabs < SLABS ? (this.slabs++, new ArrayBuffer(SLAB)) : null);
      if (!slab) return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.send(worker, id, chunk, at));
      const length = Math.min(SLAB, chunk.length - at);
      new Uint8Array(slab, 0, length).set(chunk.subarray(at, at + length));
      worker.postMessage({ t: 'data', id, slab, length }, [slab]);
      at += length;
    }
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER, { eval: true });
    worker.unref(); // a pull that fails never waits on it to exit
    worker.on('message', (m: { t: string; id: number; slab: ArrayBuffer; digests: string[]; message: string; code?: string }) => {
      if (m.t === 'ack') {
        this.free.push(m.slab);
        for (const resolve of this.waiting.splice(0)) resolve();
        return;
      }
      const result = this.results.get(m.id);
      this.results.delete(m.id);
      if (m.t === 'done') result?.resolve(m.digests);
      else result?.reject(Object.assign(new Error(m.message), { code: m.code }));
    });
    worker.on('error', (err) => this.fail(err));
    return (this.worker = worker);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const { reject } of this.results.values()) reject(this.failure);
    this.results.clear();
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}
