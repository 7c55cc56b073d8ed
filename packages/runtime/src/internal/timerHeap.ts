/**
 * The events waiting for their time: a binary min-heap keyed by (due time, seq), with cancellation
 * by event id. Cancelled entries are only marked and skipped when they reach the top, so cancelling
 * costs O(1) plus the id index.
 */

/**
 * One scheduled event.
 *
 * @since 0.1.0
 */
export interface Timer<A> {
  readonly event: A
  readonly eventId: string
  readonly priority: number
  /** Epoch milliseconds on the dispatcher's `Clock`. */
  readonly dueAt: number
  readonly seq: number
  cancelled: boolean
}

const before = <A>(a: Timer<A>, b: Timer<A>): boolean => a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq)

/**
 * The heap; see the module comment.
 *
 * @since 0.1.0
 */
export class TimerHeap<A> {
  private heap: Array<Timer<A>> = []
  private readonly byId = new Map<string, Set<Timer<A>>>()
  /** Live (not cancelled) timers. */
  size = 0

  add(timer: Timer<A>): void {
    const heap = this.heap
    heap.push(timer)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
    let same = this.byId.get(timer.eventId)
    if (same === undefined) {
      same = new Set()
      this.byId.set(timer.eventId, same)
    }
    same.add(timer)
    this.size++
  }

  /** The earliest live timer. */
  peek(): Timer<A> | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop()
    return this.heap[0]
  }

  /** Removes and returns, in (due time, seq) order, every live timer due at `now` or before. */
  takeDue(now: number): Array<Timer<A>> {
    const due: Array<Timer<A>> = []
    for (let next = this.peek(); next !== undefined && next.dueAt <= now; next = this.peek()) {
      this.pop()
      this.forget(next)
      due.push(next)
    }
    return due
  }

  /** Cancels every live timer of this event id; returns how many. */
  cancel(eventId: string): number {
    const same = this.byId.get(eventId)
    if (same === undefined) return 0
    for (const timer of same) timer.cancelled = true
    this.byId.delete(eventId)
    this.size -= same.size
    return same.size
  }

  /** The live timers, earliest first. */
  toArray(): Array<Timer<A>> {
    return this.heap.filter((timer) => !timer.cancelled).sort((a, b) => (before(a, b) ? -1 : 1))
  }

  /** Removes every timer; returns the live ones. */
  clear(): Array<Timer<A>> {
    const live = this.toArray()
    this.heap = []
    this.byId.clear()
    this.size = 0
    return live
  }

  private forget(timer: Timer<A>): void {
    const same = this.byId.get(timer.eventId)
    if (same === undefined) return
    same.delete(timer)
    if (same.size === 0) this.byId.delete(timer.eventId)
    this.size--
  }

  private pop(): void {
    const heap = this.heap
    const last = heap.pop()!
    if (heap.length === 0) return
    heap[0] = last
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let smallest = i
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right
      if (smallest === i) return
      ;[heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!]
      i = smallest
    }
  }
}
