/**
 * A handler's own queue: bounded, priority-ordered (see `priorityQueue.ts`), with one taker (the
 * handler's fiber) and any number of publishers waiting for room. What happens when it is full
 * depends on its strategy; the dispatcher decides before pushing, so `push` itself never waits.
 */
import * as Effect from "effect/Effect"
import { type Keyed, StablePriorityQueue } from "./priorityQueue.js"

/**
 * What a full queue does with one more event.
 *
 * @since 0.1.0
 */
export type Strategy = "backpressure" | "sliding" | "dropping"

/**
 * The queue; see the module comment.
 *
 * @since 0.1.0
 */
export class Mailbox<A extends Keyed> {
  private readonly queue = new StablePriorityQueue<A>()
  private taker: (() => void) | undefined = undefined
  private roomWaiters: Array<() => void> = []
  closed = false

  constructor(readonly capacity: number, readonly strategy: Strategy) {}

  get size(): number {
    return this.queue.size
  }

  /** Whether a publisher using backpressure has to wait before pushing. */
  get mustWait(): boolean {
    return this.strategy === "backpressure" && this.queue.size >= this.capacity
  }

  /**
   * Adds a value. When the queue is full, `sliding` evicts the oldest value and `dropping` refuses
   * the new one; either way the value that did not make it is returned, so it can be counted.
   */
  push(value: A): A | undefined {
    let lost: A | undefined = undefined
    if (this.queue.size >= this.capacity) {
      if (this.strategy === "dropping") return value
      if (this.strategy === "sliding") lost = this.queue.shiftOldest()
    }
    this.queue.push(value)
    const taker = this.taker
    if (taker !== undefined) {
      this.taker = undefined
      taker()
    }
    return lost
  }

  /** Takes the first value now, if there is one. */
  poll(): A | undefined {
    const value = this.queue.shift()
    // Waking waiting publishers only at half capacity lets them push a run of events per wake-up
    // instead of one each, which is most of the throughput of a saturated queue.
    if (this.roomWaiters.length > 0 && this.queue.size <= this.capacity >> 1) this.wakeRoomWaiters()
    return value
  }

  /** Takes the first value, waiting while the queue is empty; `undefined` once it is closed and drained. */
  readonly take: Effect.Effect<A | undefined> = Effect.suspend(() => {
    if (this.queue.size > 0 || this.closed) return Effect.succeed(this.poll())
    return Effect.async<A | undefined>((resume) => {
      this.taker = () => resume(Effect.sync(() => this.poll()))
      return Effect.sync(() => {
        this.taker = undefined
      })
    })
  })

  /** Waits until a backpressured publisher may push (or the queue is closed). */
  readonly awaitRoom: Effect.Effect<void> = Effect.suspend(() =>
    !this.mustWait || this.closed ? Effect.void : Effect.async<void>((resume) => {
      const waiter = () => resume(Effect.void)
      this.roomWaiters.push(waiter)
      return Effect.sync(() => {
        this.roomWaiters = this.roomWaiters.filter((w) => w !== waiter)
      })
    })
  )

  private wakeRoomWaiters(): void {
    const waiters = this.roomWaiters
    this.roomWaiters = []
    for (const waiter of waiters) waiter()
  }

  /** Refuses nothing by itself, but lets the taker finish once the queue is drained. */
  close(): void {
    this.closed = true
    this.wakeRoomWaiters()
    const taker = this.taker
    if (taker !== undefined) {
      this.taker = undefined
      taker()
    }
  }

  /** Removes and returns everything queued. */
  clear(): Array<A> {
    const all = this.queue.clear()
    this.wakeRoomWaiters()
    return all
  }
}
