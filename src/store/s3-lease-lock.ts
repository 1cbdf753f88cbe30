/**
 * Mutual exclusion on a bucket whose server lacks conditional writes (Swift's s3api answers 501),
 * from plain PUT, LIST and DELETE, which S3 makes strongly consistent:
 * a contender PUTs its own ticket under the lock's prefix, then LISTs the prefix. It holds the lock
 * only if its ticket is the only live one; otherwise it deletes its ticket and retries after a
 * random pause. Of two contenders, the second to LIST sees both tickets, so two can never both see
 * themselves alone. A ticket expires after TICKET_TTL_MS: a holder that died blocks others no
 * longer than that, and critical sections here are one read and one write.
 */
import { randomBytes } from 'node:crypto';
import { GbpError } from '../errors.js';
import { lockHolder } from '../util/lock-holder.js';

const TICKET_TTL_MS = 30_000;
const GIVE_UP_MS = 120_000;

export interface LeaseBackend {
  put(key: string, data: string): Promise<void>;
  listAll(prefix: string): AsyncIterable<string>;
  delete(key: string): Promise<void>;
}

export class LeaseLock {
  constructor(
    private readonly backend: LeaseBackend,
    private readonly prefix: string,
  ) {}

  async hold<T>(work: () => Promise<T>): Promise<T> {
    const ticket = await this.acquire();
    try {
      return await work();
    } finally {
      await this.backend.delete(ticket);
    }
  }

  private async acquire(): Promise<string> {
    const deadline = Date.now() + GIVE_UP_MS;
    for (let attempt = 0; ; attempt++) {
      // The ticket's name carries its expiry, so contenders judge liveness without reading it.
      const expires = Date.now() + TICKET_TTL_MS;
      const ticket = `${this.prefix}${expires}-${randomBytes(6).toString('hex')}`;
      await this.backend.put(ticket, lockHolder());
      const live: string[] = [];
      for await (const key of this.backend.listAll(this.prefix)) {
        const expiry = Number(key.slice(this.prefix.length).split('-')[0]);
        if (expiry < Date.now()) await this.backend.delete(key);
        else live.push(key);
      }
      if (live.length === 1 && live[0] === ticket) return ticket;
      await this.backend.delete(ticket);
      if (Date.now() > deadline) throw new GbpError('store', this.prefix, 'timed out waiting for a lease held by another writer');
      const pause = Math.min(1000, 20 * 2 ** Math.min(attempt, 6));
      await new Promise((r) => setTimeout(r, pause / 2 + Math.random() * pause));
    }
  }
}
