/**
 * Work started now and awaited later, at most `limit` at a time: a pull's store lookups run beside
 * the archive's reading instead of pausing it. A failure never goes unhandled: it is kept, stops
 * what has not started yet, and is thrown by `throwIfFailed` (at the next step) or `wait`.
 */
export class TaskGroup {
  private running = 0;
  private readonly queue: (() => Promise<void>)[] = [];
  private readonly idle: (() => void)[] = [];
  private failure: { err: unknown } | null = null;

  constructor(private readonly limit: number) {}

  run(work: () => Promise<void>): void {
    if (this.failure) return;
    this.queue.push(work);
    this.pump();
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
      const work = this.queue.shift()!;
      this.running++;
      work()
        .catch((err: unknown) => {
          this.failure ??= { err };
          this.queue.length = 0;
        })
        .finally(() => {
          this.running--;
          this.pump();
          if (!this.running && !this.queue.length) for (const r of this.idle.splice(0)) r();
        });
    }
  }
}
