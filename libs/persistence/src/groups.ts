interface Pending<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

export interface GroupOptions {
  /** Items in one group at most. */
  maxGroup: number;
  /** Groups in flight at once (each holds a database connection). */
  lanes: number;
  /** How long a free lane waits for more items before it runs (default 0: only those submitted in the same turn of the event loop). */
  lingerMs?: number;
}

/**
 * Runs concurrent requests in groups, one statement a group (group commit, for reads too): items
 * submitted while the lanes are busy queue, a free lane takes everything queued (up to maxGroup), and
 * each caller gets its own result once its group is done. Items submitted in the same turn of the event
 * loop (or within lingerMs) join one group; a full group goes at once. A failed group is redone one item at a time, so one bad item cannot fail its
 * neighbours; only the callers of items that still fail get the error.
 */
export class Groups<T, R> {
  private queue: Array<Pending<T, R>> = [];
  private inFlight = 0;
  private scheduled = false;

  /** `run` answers one result per item, in the items' order. */
  constructor(
    private readonly run: (items: T[]) => Promise<R[]>,
    private readonly opts: GroupOptions,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inFlight >= this.opts.lanes) return; // a finishing lane takes the queue
    if (this.queue.length >= this.opts.maxGroup) return this.pump();
    if (this.scheduled) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.pump();
    };
    if (this.opts.lingerMs) setTimeout(go, this.opts.lingerMs);
    else setImmediate(go);
  }

  private pump(): void {
    while (this.inFlight < this.opts.lanes && this.queue.length) {
      const group = this.queue.splice(0, this.opts.maxGroup);
      this.inFlight++;
      void this.runGroup(group).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async runGroup(group: Array<Pending<T, R>>): Promise<void> {
    try {
      const results = await this.run(group.map((p) => p.item));
      group.forEach((p, i) => p.resolve(results[i]!));
    } catch (err) {
      if (group.length === 1) return group[0]!.reject(err);
      for (const p of group) {
        try {
          const [r] = await this.run([p.item]);
          p.resolve(r!);
        } catch (e) {
          p.reject(e);
        }
      }
    }
  }
}
