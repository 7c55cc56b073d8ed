/**
 * One registered handler at work: its own queue, its own fiber, its retries and its timeout.
 *
 * The handler runs in a *runner* fiber that loops over its queue, one event at a time, so its order
 * is its queue's order. A *supervisor* fiber (the handler's own fiber, forked in the dispatcher's
 * scope) owns the runner and enforces the timeout: rather than wrapping every call in
 * `Effect.timeout` (which forks two fibers per event), it wakes when the current attempt would be
 * due, and if that attempt is still running it interrupts the runner, counts the attempt as failed
 * and starts a new runner that carries on from the same event. The per-event cost of the timeout is
 * then two field writes.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import type { HandlerMetrics } from "./dispatcherMetrics.js"
import { Mailbox, type Strategy } from "./mailbox.js"
import type { Keyed } from "./priorityQueue.js"

/**
 * An accepted event on its way to the handlers, shared by all of them.
 *
 * @since 0.1.0
 */
export interface Envelope<A> extends Keyed {
  readonly event: A
  /** When it was accepted or became due, in nanoseconds on the dispatcher's `Clock`. */
  readonly acceptedAt: number
}

/**
 * An attempt that ran longer than its handler's `timeout`.
 *
 * @since 0.1.0
 */
export class HandlerTimeout extends Data.TaggedError("HandlerTimeout")<{
  readonly handler: string
  readonly timeout: Duration.Duration
}> {
  override get message(): string {
    return `handler ${this.handler} did not finish within ${Duration.format(this.timeout)}`
  }
}

/**
 * A handler's settings, resolved.
 *
 * @since 0.1.0
 */
export interface WorkerConfig<A> {
  readonly name: string
  readonly tags: ReadonlyArray<string>
  readonly handle: (event: A) => Effect.Effect<unknown, unknown>
  readonly capacity: number
  readonly strategy: Strategy
  readonly timeout: Duration.Duration | undefined
  readonly retry: Schedule.Schedule<unknown, Cause.Cause<unknown>>
}

/**
 * What the worker tells the dispatcher.
 *
 * @since 0.1.0
 */
export interface WorkerHooks<A> {
  readonly clock: Clock.Clock
  /** `count` envelopes are done with (delivered, dead-lettered or lost). */
  readonly settled: (count: number) => void
  readonly deadLetter: (handler: string, envelope: Envelope<A>, cause: Cause.Cause<unknown>, attempts: number) => void
}

/**
 * The worker; see the module comment.
 *
 * @since 0.1.0
 */
export class Worker<A> {
  readonly mailbox: Mailbox<Envelope<A>>
  /** The event in hand. It is taken from the queue only when the previous one is done, so an
   * urgent event published meanwhile still goes first. */
  private current: Envelope<A> | undefined = undefined
  private attempts = 0
  private driver: Schedule.ScheduleDriver<unknown, Cause.Cause<unknown>> | undefined = undefined
  private running = false
  private startedAt = 0
  private readonly timeoutMs: number | undefined

  constructor(
    readonly config: WorkerConfig<A>,
    readonly metrics: HandlerMetrics,
    private readonly hooks: WorkerHooks<A>
  ) {
    this.mailbox = new Mailbox(config.capacity, config.strategy)
    this.timeoutMs = config.timeout === undefined || !Duration.isFinite(config.timeout)
      ? undefined
      : Duration.toMillis(config.timeout)
  }

  /** Events accepted for this handler and not yet done with. */
  get backlog(): number {
    return this.mailbox.size + (this.current === undefined ? 0 : 1)
  }

  /** Queues an envelope, counting what a full sliding or dropping queue loses. */
  offer(envelope: Envelope<A>): void {
    if (this.mailbox.push(envelope) !== undefined) {
      this.metrics.dropped(1)
      this.hooks.settled(1)
    }
  }

  /** Drops everything not yet handled (immediate stop); returns how many. */
  abandon(): number {
    const lost = this.mailbox.clear().length + (this.current === undefined ? 0 : 1)
    this.current = undefined
    this.metrics.depth(0)
    this.metrics.inFlight(0)
    return lost
  }

  private nowNanos(): number {
    return Number(this.hooks.clock.unsafeCurrentTimeNanos())
  }

  private readonly next: Effect.Effect<void> = Effect.suspend(() => this.step())

  private step(): Effect.Effect<void> {
    const envelope = this.mailbox.poll()
    this.metrics.depth(this.mailbox.size)
    if (envelope !== undefined) {
      this.current = envelope
      return this.attempt(envelope)
    }
    return Effect.flatMap(this.mailbox.take, (envelope) => {
      // Nothing means the queue was closed and is drained: the runner ends.
      if (envelope === undefined) return Effect.void
      this.current = envelope
      return this.attempt(envelope)
    })
  }

  private attempt(envelope: Envelope<A>): Effect.Effect<void> {
    const now = this.nowNanos()
    if (this.attempts++ === 0) this.metrics.latency((now - envelope.acceptedAt) / 1e6)
    this.startedAt = now / 1e6
    this.running = true
    this.metrics.inFlight(1)
    return Effect.matchCauseEffect(Effect.suspend(() => this.config.handle(envelope.event)), {
      onSuccess: () => {
        this.running = false
        this.metrics.inFlight(0)
        this.metrics.delivered()
        return this.finish()
      },
      onFailure: (cause) => {
        this.running = false
        this.metrics.inFlight(0)
        return this.failed(envelope, cause)
      }
    })
  }

  private failed(envelope: Envelope<A>, cause: Cause.Cause<unknown>): Effect.Effect<void> {
    this.metrics.failed()
    const driver = this.driver === undefined
      ? Effect.tap(Schedule.driver(this.config.retry), (driver) => {
        this.driver = driver
      })
      : Effect.succeed(this.driver)
    return Effect.flatMap(driver, (driver) =>
      Effect.matchEffect(driver.next(cause), {
        onFailure: () => {
          this.metrics.deadLettered()
          this.hooks.deadLetter(this.config.name, envelope, cause, this.attempts)
          return this.finish()
        },
        onSuccess: () => {
          this.metrics.retried()
          return this.attempt(envelope)
        }
      }))
  }

  private finish(): Effect.Effect<void> {
    this.current = undefined
    this.attempts = 0
    this.driver = undefined
    this.hooks.settled(1)
    // `step` only builds the next effect, so calling it here does not grow the stack.
    return this.step()
  }

  /**
   * The handler's own fiber: runs the runner and cuts attempts that pass the timeout. Ends when the
   * queue is closed and drained.
   */
  readonly supervise: Effect.Effect<void> = Effect.suspend(() => {
    const timeoutMs = this.timeoutMs
    if (timeoutMs === undefined) return this.next
    const loop = (start: Effect.Effect<void>): Effect.Effect<void> =>
      Effect.flatMap(Effect.fork(start), (runner) =>
        Effect.flatMap(this.watch(runner, timeoutMs), (timedOut) => {
          if (!timedOut) return Effect.void
          const envelope = this.current!
          const cause = Cause.fail(new HandlerTimeout({ handler: this.config.name, timeout: this.config.timeout! }))
          return loop(Effect.suspend(() => this.failed(envelope, cause)))
        }))
    return loop(this.next)
  })

  /** Waits for the runner to end (false) or for the attempt in hand to time out (true). */
  private watch(runner: Fiber.RuntimeFiber<void>, timeoutMs: number): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      const now = this.nowNanos() / 1e6
      if (this.running && now - this.startedAt >= timeoutMs) {
        return Effect.as(
          Effect.zipRight(
            Fiber.interrupt(runner),
            Effect.sync(() => {
              this.running = false
              this.metrics.inFlight(0)
            })
          ),
          true
        )
      }
      const wait = this.running ? Math.max(1, this.startedAt + timeoutMs - now) : timeoutMs
      return Effect.flatMap(
        Effect.raceFirst(
          Effect.as(Fiber.await(runner), true),
          Effect.as(Effect.sleep(Duration.millis(wait)), false)
        ),
        (ended) => (ended ? Effect.as(Fiber.join(runner), false) : this.watch(runner, timeoutMs))
      )
    })
  }
}
