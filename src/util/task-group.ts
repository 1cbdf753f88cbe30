/**
 * Work started now and awaited later, at most `limit` at a time: a pull's store lookups run beside
 * the archive's reading instead of pausing it. A failure never goes unhandled: it is kept, stops
 * what has not started yet, and is thrown by `throwIfFailed` (at the next step) or `wait`.
 */
export class TaskGroup {
  private running = 0;
  private readonly queue: { start: () => Promise<void>; cancel: (err: unknown) => void }[] = [];
  private readonly idle: (() => void)[] = [];
  private failure: { err: unknown } | null = null;

  constructor(private readonly limit: number) {}

  /**
   * Queues `work`; the returned promise is its result. Its failure is the group's (`wait` throws
   * it), so a caller that never awaits the result leaves nothing unhandled.
   */
  run<T>(work: () => Promise<T>): Promise<T> {
    let resolve!: (value: T) => void;
    let reject!: (err: unknown) => void;
    const result = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
    result.catch(() => {});
    if (this.failure) {
      reject(this.failure.err);
      return result;
    }
    const start = () =>
      work().then(resolve, (err: unknown) => {
        reject(err);
        throw err;
      });
    this.queue.push({ start, cancel: reject });
    this.pump();
    return result;
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure.err;
  }

  /** Resolves when everything started has finished; throws the first failure. */
  async wait(): Promise<void> {
    while (this.running || this.queue.length) await new Promise<void>((r) => this.idle.push(r));
    this.throwIfFailed();
  }

  private pump(): void {
    while (this.running < this.limit && this.queue.length && !this.failure) {
      const { start } = this.queue.shift()!;
      this.running++;
      start()
        .catch((err: unknown) => {
          this.failure ??= { err };
          for (const queued of this.queue.splice(0)) queued.cancel(this.failure.err);
        })
        .finally(() => {
          this.running--;
          this.pump();
          if (!this.running && !this.queue.length) for (const r of this.idle.splice(0)) r();
        });
    }
  }
}
