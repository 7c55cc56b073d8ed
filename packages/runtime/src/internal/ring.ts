/** A fixed-capacity ring buffer: keeps the most recent `capacity` values, oldest overwritten first. */
export class Ring<A> {
  private readonly buffer: Array<A | undefined>
  private start = 0
  private size = 0
  constructor(readonly capacity: number) {
    this.buffer = new Array(capacity)
  }
  push(value: A): void {
    if (this.capacity === 0) return
    if (this.size < this.capacity) {
      this.buffer[(this.start + this.size++) % this.capacity] = value
    } else {
      this.buffer[this.start] = value
      this.start = (this.start + 1) % this.capacity
    }
  }
  /** Oldest first. */
  toArray(): Array<A> {
    const out = new Array<A>(this.size)
    for (let i = 0; i < this.size; i++) out[i] = this.buffer[(this.start + i) % this.capacity]!
    return out
  }
}
