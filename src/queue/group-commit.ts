/**
 * Group commit: every commit requested during one event-loop turn goes into one transaction,
 * so one WAL fsync makes a whole batch durable (BUN-NOTES: ~2,500 single-message fsync commits
 * per second against tens of thousands batched). setImmediate runs after the I/O callbacks of
 * the current turn, so the data of all sockets that became readable together lands in one
 * batch. Every promise settles only after execute() returned, i.e. after COMMIT, and, when
 * the owner gives a `durable` step, after that step (the WAL's fsync, run off the event loop)
 * has finished: until then the event loop goes on serving other sessions.
 */

interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommitter<T> {
  private pending: Pending<T>[] = [];
  private scheduled = false;

  /**
   * execute() runs one transaction for the batch and returns one error (or null) per item;
   * durable() makes what it committed durable (the items without error wait for it).
   */
  constructor(
    private readonly execute: (items: T[]) => (Error | null)[],
    private readonly durable?: () => Promise<void>,
  ) {}

  submit(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Make sure the end-of-turn flush runs, even with nothing submitted: execute([]) then commits
   * the other writes the owner gathered in this turn (the store's deferred scheduler writes).
   */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Run the pending batch now (also used by close(), so no requested commit is dropped). */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    let results: (Error | null)[];
    try {
      results = this.execute(batch.map((p) => p.item));
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      results = batch.map(() => e);
    }
    const ok: Pending<T>[] = [];
    for (let i = 0; i < batch.length; i++) {
      const err = results[i];
      if (err) batch[i].reject(err);
      else ok.push(batch[i]);
    }
    if (ok.length === 0) return;
    if (!this.durable) {
      for (const p of ok) p.resolve();
      return;
    }
    this.durable().then(
      () => {
        for (const p of ok) p.resolve();
      },
      (err) => {
        for (const p of ok) p.reject(err);
      },
    );
  }
}
