/**
 * A stable priority queue: the lowest priority comes out first and, among equal priorities, the
 * first in. It keeps one FIFO per distinct priority (most dispatchers use a handful), so pushing and
 * taking cost O(1) plus a search among the distinct priorities, instead of a heap's O(log n)
 * comparisons — and ties never come out newest-first, as they do from `TPriorityQueue`.
 *
 * Callers push in `seq` order (the dispatcher assigns `seq` at the moment it pushes), so the order
 * out is exactly the order of the key (priority, seq).
 */

/**
 * What the queue orders by.
 *
 * @since 0.1.0
 */
export interface Keyed {
  readonly priority: number
  readonly seq: number
}

/** A growable ring of values: O(1) push at the back and shift at the front. */
class Fifo<A> {
  private items: Array<A | undefined>
  private head = 0
  size = 0
  constructor(readonly priority: number) {
    this.items = new Array(16)
  }
  push(value: A): void {
    if (this.size === this.items.length) {
      const grown = new Array<A | undefined>(this.items.length * 2)
      for (let i = 0; i < this.size; i++) grown[i] = this.items[(this.head + i) % this.items.length]
      this.items = grown
      this.head = 0
    }
    this.items[(this.head + this.size++) % this.items.length] = value
  }
  peek(): A | undefined {
    return this.size === 0 ? undefined : this.items[this.head]
  }
  shift(): A | undefined {
    if (this.size === 0) return undefined
    const value = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) % this.items.length
    this.size--
    return value
  }
}

/**
 * The queue; see the module comment.
 *
 * @since 0.1.0
 */
export class StablePriorityQueue<A extends Keyed> {
  /** Non-empty FIFOs, by ascending priority. */
  private buckets: Array<Fifo<A>> = []
  size = 0

  push(value: A): void {
    const buckets = this.buckets
    const priority = value.priority
    // The common cases first: one priority in use, or the lowest / highest one.
    const last = buckets.length - 1
    if (last >= 0 && buckets[last]!.priority === priority) {
      buckets[last]!.push(value)
    } else {
      let lo = 0
      let hi = buckets.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (buckets[mid]!.priority < priority) lo = mid + 1
        else hi = mid
      }
      if (lo < buckets.length && buckets[lo]!.priority === priority) {
        buckets[lo]!.push(value)
      } else {
        const fifo = new Fifo<A>(priority)
        fifo.push(value)
        buckets.splice(lo, 0, fifo)
      }
    }
    this.size++
  }

  peek(): A | undefined {
    return this.buckets.length === 0 ? undefined : this.buckets[0]!.peek()
  }

  shift(): A | undefined {
    const first = this.buckets[0]
    if (first === undefined) return undefined
    const value = first.shift()
    if (first.size === 0) this.buckets.shift()
    this.size--
    return value
  }

  /** Takes up to `max` values, in order. */
  takeUpTo(max: number): Array<A> {
    const n = Math.min(max, this.size)
    const out = new Array<A>(n)
    for (let i = 0; i < n; i++) out[i] = this.shift()!
    return out
  }

  /** Removes the value with the smallest `seq` (the oldest), whatever its priority. */
  shiftOldest(): A | undefined {
    let best = -1
    let bestSeq = Infinity
    for (let i = 0; i < this.buckets.length; i++) {
      const seq = this.buckets[i]!.peek()!.seq
      if (seq < bestSeq) {
        bestSeq = seq
        best = i
      }
    }
    if (best < 0) return undefined
    const fifo = this.buckets[best]!
    const value = fifo.shift()
    if (fifo.size === 0) this.buckets.splice(best, 1)
    this.size--
    return value
  }

  /** Removes and returns every value, in order. */
  clear(): Array<A> {
    return this.takeUpTo(this.size)
  }
}
