/**
 * The bus's bounded history: the most recent `capacity` events. It keeps the published batches
 * themselves (arrays the bus owns and never changes) and forgets whole batches once newer ones
 * cover the capacity, so recording a batch costs one array slot instead of a copy per event —
 * a copy into a long-lived buffer pays the GC's write barrier per event, which showed on the bus's
 * hot path. `toArray` assembles the events when someone asks.
 */

/**
 * The history buffer.
 *
 * @since 0.1.0
 */
export class History<A> {
  private segments: Array<ReadonlyArray<A> | undefined> = []
  private head = 0
  /** Events in `segments[head..]`. */
  private total = 0
  constructor(readonly capacity: number) {}

  /** Records a batch. The history keeps the array: the caller must not change it afterwards. */
  pushAll(events: ReadonlyArray<A>): void {
    const capacity = this.capacity
    if (capacity === 0 || events.length === 0) return
    const kept = events.length > capacity ? events.slice(events.length - capacity) : events
    this.segments.push(kept)
    this.total += kept.length
    for (
      let first = this.segments[this.head]!;
      this.total - first.length >= capacity;
      first = this.segments[this.head]!
    ) {
      this.total -= first.length
      this.segments[this.head++] = undefined
    }
    if (this.head >= 1_024 && this.head * 2 >= this.segments.length) {
      this.segments = this.segments.slice(this.head)
      this.head = 0
    }
  }

  /** Oldest first. */
  toArray(): Array<A> {
    const size = Math.min(this.total, this.capacity)
    const out = new Array<A>(size)
    let skip = this.total - size
    let k = 0
    for (let s = this.head; s < this.segments.length; s++) {
      const segment = this.segments[s]!
      for (let i = 0; i < segment.length; i++) {
        if (skip > 0) skip--
        else out[k++] = segment[i]!
      }
    }
    return out
  }
}
