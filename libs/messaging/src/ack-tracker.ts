/**
 * Acknowledges a channel's deliveries in delivery-tag order with one `multiple` ack per run of
 * settled deliveries, instead of one ack frame per message. Batches finish out of order (several
 * run at once), so a delivery is only covered once every earlier one on the channel is settled.
 *
 * A delivery settled on its own (nacked back to the queue) must never be the tag of a `multiple`
 * ack: RabbitMQ closes the channel for an unknown tag. The ack therefore names the highest
 * released tag that is still unacknowledged, which covers every lower one.
 */
export class AckTracker {
  private readonly tags: number[] = [];
  private head = 0;
  /** Settled deliveries not yet released; true when already settled individually. */
  private readonly settled = new Map<number, boolean>();

  /** @param ackUpTo sends `basic.ack` with `multiple` for `tag`. */
  constructor(private readonly ackUpTo: (tag: number) => void) {}

  /** Records a delivery as it arrives (tags increase per channel). */
  track(tag: number): void {
    this.tags.push(tag);
  }

  /** Marks deliveries done; `individually` when they were already acked or nacked on their own. */
  settle(tags: number[], individually = false): void {
    for (const tag of tags) this.settled.set(tag, individually);
    let ackable = -1;
    while (this.head < this.tags.length && this.settled.has(this.tags[this.head]!)) {
      const t = this.tags[this.head++]!;
      if (!this.settled.get(t)) ackable = t;
      this.settled.delete(t);
    }
    if (this.head > 1024 && this.head * 2 > this.tags.length) {
      this.tags.splice(0, this.head);
      this.head = 0;
    }
    if (ackable >= 0) this.ackUpTo(ackable);
  }

  /** Deliveries tracked and not yet released. */
  get outstanding(): number {
    return this.tags.length - this.head;
  }
}
