/**
 * One handler of the NATS dispatcher at work in this process. It takes its events from durable
 * consumers that every process running the handler shares (one per priority lane and tag, and one
 * for re-driven dead letters), so each event is handled once per handler across the processes.
 *
 * Pumps (one fiber per consumer) pull up to `prefetch` messages each, open them and put them in a
 * local priority queue (`Mailbox`); the runner takes the most urgent, runs the handler with its
 * timeout, and answers the server: `ack` on success; on failure, `nak` with the delay the retry
 * schedule gives for this attempt (JetStream's delivery count), so the retry may run in any
 * process; after the last attempt, the event goes to the dead-letter stream with its cause, then
 * `ack`. Messages held here (queued or running) are kept alive with `working()` so that a slow
 * backlog is not redelivered elsewhere while it waits.
 */
import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as EffectContext from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import type * as Schedule from "effect/Schedule"
import { attempt, type NatsError } from "../nats/NatsClient.js"
import type { MessageUnreadable } from "../security/BusCodec.js"
import type { HandlerMetrics } from "./dispatcherMetrics.js"
import { Mailbox } from "./mailbox.js"
import * as DeadLetters from "./natsDeadLetters.js"
import * as Topology from "./natsTopology.js"
import type { WorkEnvelope } from "./natsWire.js"
import type { Keyed } from "./priorityQueue.js"
import * as RetryPlan from "./retryPlan.js"
import { HandlerTimeout } from "./worker.js"

/**
 * What a handler needs from its dispatcher.
 *
 * @since 0.1.0
 */
export interface Context<A> extends DeadLetters.Wiring<A> {
  readonly lanes: ReadonlyArray<number>
  readonly clock: Clock.Clock
  readonly prefetch: number
  readonly ackWaitMs: number
  /** `count` deliveries held here are done with. */
  readonly settled: (count: number) => void
  /** `count` more deliveries are held here. */
  readonly received: (count: number) => void
}

/**
 * @since 0.1.0
 */
export interface DeliveryInfo {
  readonly handler: string
  /** 1 for the first delivery; more for a retry or a redelivery after a process stopped. */
  readonly deliveryCount: number
  /** The event's sequence in the work stream. */
  readonly streamSequence: number
}

/**
 * The delivery a NATS handler is running, in its context.
 *
 * @since 0.1.0
 */
export class Delivery extends EffectContext.Tag("@nerv/runtime/NatsDispatcher/Delivery")<Delivery, DeliveryInfo>() {}

/**
 * A handler's settings, resolved.
 *
 * @since 0.1.0
 */
export interface Config<A> {
  readonly name: string
  readonly tags: ReadonlyArray<string>
  readonly handle: (event: A) => Effect.Effect<unknown, unknown>
  readonly timeout: Duration.Duration | undefined
  readonly retry: Schedule.Schedule<unknown, Cause.Cause<unknown>>
}

/**
 * How long a pull request waits at the server. JetStream cannot cancel one: after a process stops
 * pulling, its last request may still take messages for this long (they then come back after the
 * ack wait). Short, so that a stopped process stops taking work soon.
 */
const pullExpiresMs = 2_000

/** Given-back messages wait out this process's last pull request, so they go to another process. */
const giveBackDelayMs = pullExpiresMs + 500

interface Held<A> extends Keyed {
  readonly msg: JsMsg
  readonly envelope: WorkEnvelope<A>
  readonly pull: Pull
}

/** One consumer this handler pulls from, and how many of its messages it holds. */
interface Pull {
  readonly name: string
  readonly consumer: Consumer
  holding: number
  /** The fetch in progress, closed when stopping. */
  current: ConsumerMessages | undefined
  /** Wakes the pump waiting for room. */
  waiting: (() => void) | undefined
}

/**
 * Runs one attempt of `config`'s handler with its timeout.
 *
 * @since 0.1.0
 */
export const runAttempt = <A>(config: Config<A>, event: A): Effect.Effect<unknown, unknown> => {
  const run = Effect.suspend(() => config.handle(event))
  const timeout = config.timeout
  return timeout === undefined || !Duration.isFinite(timeout) ? run : Effect.timeoutFailCause(run, {
    duration: timeout,
    onTimeout: () => Cause.fail(new HandlerTimeout({ handler: config.name, timeout }))
  })
}

/**
 * The handler; see the module comment.
 *
 * @since 0.1.0
 */
export class NatsHandler<A extends { readonly eventId: string }> {
  readonly mailbox: Mailbox<Held<A>>
  /** Every message taken from a consumer and not yet answered: queued, or in hand. */
  private readonly held = new Set<JsMsg>()
  private seq = 0
  /** The delivery whose attempt is running, and since when (for the timeout). */
  private current: Held<A> | undefined = undefined
  private startedAt = 0
  private attempting = false
  /** The subject tokens of the handler's tags. */
  private readonly tagTokens: ReadonlySet<string>
  /** Set when stopping: how. */
  private closing: "graceful" | "immediate" | undefined = undefined
  private pulls: Array<Pull> = []
  private pumps: Array<Fiber.RuntimeFiber<void>> = []
  private runner: Fiber.RuntimeFiber<void> | undefined = undefined
  private keeper: Fiber.RuntimeFiber<void> | undefined = undefined
  running = false

  constructor(
    readonly config: Config<A>,
    readonly metrics: HandlerMetrics,
    private readonly context: Context<A>
  ) {
    // Every pump fetches only what it has room for, so the queue never has to refuse one.
    this.mailbox = new Mailbox(Math.max(1, context.prefetch) * (context.lanes.length + 1), "backpressure")
    this.tagTokens = new Set(config.tags.map(Topology.token))
  }

  /** Messages held here, queued or in hand. */
  get backlog(): number {
    return this.held.size
  }

  /**
   * The durable consumers of this handler: one per priority lane, and one for re-driven letters. A
   * handler of several tags reads the whole lane (and skips the tags it does not take, by subject,
   * without opening them), so that it gets the lane's events in the stream's order whatever their
   * tags: a document's `DocumentUpdated` never overtakes its `DocumentCreated`.
   */
  subscriptions(): ReadonlyArray<{ readonly name: string; readonly stream: string; readonly subject: string }> {
    const { topology } = this.context
    const tags = this.config.tags
    const out: Array<{ name: string; stream: string; subject: string }> = []
    for (const lane of this.context.lanes) {
      out.push({
        name: topology.consumer(this.config.name, lane, tags.length === 1 ? tags[0]! : "*"),
        stream: topology.streams.work,
        subject: tags.length === 1 ? topology.work(lane, tags[0]!) : topology.lane(lane)
      })
    }
    out.push({
      name: topology.redriveConsumer(this.config.name),
      stream: topology.streams.work,
      subject: topology.redrive(this.config.name)
    })
    return out
  }

  /** Creates (or joins) the consumers and starts pulling. */
  readonly start: Effect.Effect<void, NatsError> = Effect.suspend(() => {
    const { client } = this.context
    const subscriptions = this.subscriptions()
    return Effect.gen(this, function*() {
      yield* Effect.forEach(
        subscriptions,
        ({ name, stream, subject }) => Topology.ensureConsumer(client, stream, name, subject, this.context.ackWaitMs),
        { concurrency: "unbounded", discard: true }
      )
      this.pulls = yield* Effect.forEach(
        subscriptions,
        ({ name, stream }) =>
          attempt(`consume ${name}`, () => client.jetstream.consumers.get(stream, name)).pipe(
            Effect.map((consumer): Pull => ({ name, consumer, holding: 0, current: undefined, waiting: undefined }))
          ),
        { concurrency: "unbounded" }
      )
      this.running = true
      this.pumps = yield* Effect.forEach(this.pulls, (pull) => Effect.forkDaemon(this.pump(pull)))
      this.runner = yield* Effect.forkDaemon(this.supervise())
      this.keeper = yield* Effect.forkDaemon(this.keepAlive())
    })
  })

  /**
   * One consumer's pump: fetches as many messages as the consumer has room for here (`prefetch`
   * less what it holds), so that everything this process has pulled is held, and so kept alive
   * while it waits, and nothing sits unseen in a client buffer while the ack wait runs out.
   */
  private pump(pull: Pull): Effect.Effect<void> {
    const prefetch = Math.max(1, this.context.prefetch)
    const drain = (iterator: AsyncIterator<JsMsg>): Effect.Effect<void> =>
      Effect.flatMap(Effect.promise(() => iterator.next()), (result) => {
        if (result.done === true) return Effect.void
        const msg = result.value
        if (this.closing === "immediate") {
          // Pulled while stopping at once: back to the server, for another process.
          msg.nak(giveBackDelayMs)
          return drain(iterator)
        }
        return Effect.zipRight(this.accept(msg, pull), drain(iterator))
      })
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      if (this.closing !== undefined) return Effect.void
      const room = prefetch - pull.holding
      // Refill by halves, as the client's own consumer does: a fetch per freed slot would be a
      // round trip per event.
      if (room < Math.max(1, prefetch >> 1)) {
        return Effect.zipRight(
          Effect.async<void>((resume) => {
            pull.waiting = () => resume(Effect.void)
            return Effect.sync(() => {
              pull.waiting = undefined
            })
          }),
          loop
        )
      }
      return attempt(`fetch from ${pull.name}`, async () => {
        const messages = await pull.consumer.fetch({ max_messages: room, expires: pullExpiresMs })
        pull.current = messages
        return messages[Symbol.asyncIterator]()
      }).pipe(
        Effect.flatMap(drain),
        Effect.ensuring(Effect.sync(() => {
          pull.current = undefined
        })),
        Effect.catchAll((error) =>
          Effect.zipRight(Effect.logWarning(`${error.message}; trying again`), Effect.sleep("1 second"))
        ),
        Effect.zipRight(loop)
      )
    })
    return loop
  }

  private accept(msg: JsMsg, pull: Pull): Effect.Effect<void> {
    if (this.tagTokens.size > 1 && msg.subject.includes(".work.")) {
      const tag = msg.subject.slice(msg.subject.lastIndexOf(".") + 1)
      if (!this.tagTokens.has(tag)) {
        // Another handler's tag in this handler's lane: not for it.
        msg.ack()
        return Effect.void
      }
    }
    return Effect.flatMap(Effect.either(this.context.work.decode(msg.data)), (decoded) => {
      if (Either.isLeft(decoded)) return this.unreadable(msg, decoded.left)
      const envelope = decoded.right
      this.held.add(msg)
      pull.holding++
      this.context.received(1)
      this.mailbox.push({ msg, envelope, pull, priority: envelope.priority, seq: this.seq++ })
      this.metrics.depth(this.mailbox.size)
      return Effect.void
    })
  }

  /**
   * A message this process cannot open (sealed under a key it does not hold, tampered with, or
   * not an event): reported, then given back with the retry schedule's delay so that a process
   * that can open it may take it; after the last attempt it is kept as a dead letter, as it came.
   */
  private unreadable(msg: JsMsg, error: MessageUnreadable): Effect.Effect<void> {
    const { context } = this
    return Effect.gen(this, function*() {
      yield* context.onUnreadable(error)
      const deliveries = msg.info.deliveryCount
      const plan = yield* RetryPlan.plan(
        this.config.retry,
        deliveries,
        Cause.fail(error),
        context.clock.unsafeCurrentTimeMillis()
      )
      if (plan._tag === "Retry") return msg.nak(plan.delayMs)
      yield* DeadLetters.keepUnreadable(
        context,
        this.config.name,
        msg,
        error.reason,
        deliveries,
        context.clock.unsafeCurrentTimeMillis()
      ).pipe(
        Effect.matchEffect({
          onSuccess: () => Effect.sync(() => msg.ack()),
          onFailure: (failure) => Effect.zipRight(Effect.logWarning(failure.message), Effect.sync(() => msg.nak(1_000)))
        })
      )
    })
  }

  private run(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const next = this.mailbox.poll()
      if (next !== undefined) return Effect.zipRight(this.process(next), this.run())
      return Effect.flatMap(
        this.mailbox.take,
        (held) => (held === undefined ? Effect.void : Effect.zipRight(this.process(held), this.run()))
      )
    })
  }

  private process(held: Held<A>): Effect.Effect<void> {
    return Effect.suspend(() => {
      const { clock } = this.context
      const deliveries = held.msg.info.deliveryCount
      const now = clock.unsafeCurrentTimeMillis()
      this.metrics.depth(this.mailbox.size)
      this.metrics.inFlight(1)
      if (deliveries === 1) this.metrics.latency(Math.max(0, now - (held.envelope.dueAt ?? held.envelope.publishedAt)))
      const delivery: DeliveryInfo = {
        handler: this.config.name,
        deliveryCount: deliveries,
        streamSequence: held.msg.seq
      }
      const running = Effect.provideService(
        Effect.suspend(() => {
          // Watched by `supervise`, which cuts the attempt at the handler's timeout.
          this.current = held
          this.startedAt = clock.unsafeCurrentTimeMillis()
          this.attempting = true
          return this.config.handle(held.envelope.event)
        }),
        Delivery,
        delivery
      )
      const run = Effect.matchCauseEffect(running, {
        onSuccess: () =>
          Effect.sync(() => {
            this.attempting = false
            held.msg.ack()
            this.metrics.delivered()
            this.done(held)
          }),
        onFailure: (cause) => {
          this.attempting = false
          return this.failed(held, cause, deliveries)
        }
      })
      if (deliveries === 1) return run
      // A redelivery the schedule did not ask for (a process died holding it) still counts as an
      // attempt: past the schedule's last one, it is dead-lettered without running again.
      return Effect.flatMap(
        RetryPlan.plan(this.config.retry, deliveries - 1, Cause.empty, now),
        (plan) =>
          plan._tag === "Retry" ? run : this.deadLetter(
            held,
            Cause.die(
              new Error(`delivered ${deliveries} times without an outcome (the processes handling it stopped)`)
            ),
            deliveries - 1
          )
      )
    })
  }

  private failed(held: Held<A>, cause: Cause.Cause<unknown>, deliveries: number): Effect.Effect<void> {
    this.metrics.failed()
    return Effect.flatMap(
      RetryPlan.plan(this.config.retry, deliveries, cause, this.context.clock.unsafeCurrentTimeMillis()),
      (plan) => {
        if (plan._tag === "GiveUp") return this.deadLetter(held, cause, deliveries)
        return Effect.sync(() => {
          this.metrics.retried()
          held.msg.nak(plan.delayMs)
          this.done(held)
        })
      }
    )
  }

  private deadLetter(held: Held<A>, cause: Cause.Cause<unknown>, attempts: number): Effect.Effect<void> {
    const record: DeadLetters.DeadLetterRecord<A> = {
      event: held.envelope.event,
      handler: this.config.name,
      priority: held.envelope.priority,
      attempts,
      failedAt: this.context.clock.unsafeCurrentTimeMillis(),
      cause
    }
    return DeadLetters.publish(this.context, record, held.envelope.event.eventId).pipe(
      Effect.matchEffect({
        onSuccess: () =>
          Effect.sync(() => {
            held.msg.ack()
            this.metrics.deadLettered()
            this.done(held)
          }),
        onFailure: (error) =>
          Effect.zipRight(
            Effect.logWarning(`${error.message}; the event comes back later`),
            Effect.sync(() => {
              held.msg.nak(1_000)
              this.done(held)
            })
          )
      })
    )
  }

  /**
   * The handler's own fiber: runs the runner and cuts attempts that pass the timeout, as the
   * in-process worker does. Rather than wrapping every attempt in `Effect.timeout` (two fibers and
   * a timer per event, most of the handler's cost here), it wakes when the attempt in hand would be
   * due, and if it is still running it interrupts the runner, counts the attempt as failed with
   * `HandlerTimeout`, and starts a new runner.
   */
  private supervise(): Effect.Effect<void> {
    const timeout = this.config.timeout
    if (timeout === undefined || !Duration.isFinite(timeout)) return this.run()
    const timeoutMs = Duration.toMillis(timeout)
    const loop = (start: Effect.Effect<void>): Effect.Effect<void> =>
      Effect.flatMap(Effect.fork(start), (runner) =>
        Effect.flatMap(this.watch(runner, timeoutMs), (timedOut) => {
          if (!timedOut) return Effect.void
          const held = this.current!
          const cause = Cause.fail(new HandlerTimeout({ handler: this.config.name, timeout }))
          return loop(Effect.zipRight(
            Effect.suspend(() => this.failed(held, cause, held.msg.info.deliveryCount)),
            Effect.suspend(() => this.run())
          ))
        }))
    return loop(this.run())
  }

  /** Waits for the runner to end (false) or for the attempt in hand to pass the timeout (true). */
  private watch(runner: Fiber.RuntimeFiber<void>, timeoutMs: number): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      const now = this.context.clock.unsafeCurrentTimeMillis()
      if (this.attempting && now - this.startedAt >= timeoutMs) {
        return Effect.as(
          Effect.zipRight(Fiber.interrupt(runner), Effect.sync(() => (this.attempting = false))),
          true
        )
      }
      const wait = this.attempting ? Math.max(1, this.startedAt + timeoutMs - now) : timeoutMs
      return Effect.flatMap(
        Effect.raceFirst(Effect.as(Fiber.await(runner), true), Effect.as(Effect.sleep(Duration.millis(wait)), false)),
        (ended) => (ended ? Effect.as(Fiber.join(runner), false) : this.watch(runner, timeoutMs))
      )
    })
  }

  private done(held: Held<A>): void {
    this.held.delete(held.msg)
    held.pull.holding--
    const wake = held.pull.waiting
    if (wake !== undefined) {
      held.pull.waiting = undefined
      wake()
    }
    this.metrics.inFlight(0)
    this.context.settled(1)
  }

  /** Tells the server, every third of the ack wait, that what is held here is still being worked on. */
  private keepAlive(): Effect.Effect<void> {
    return Effect.forever(
      Effect.zipRight(
        Effect.sleep(Duration.millis(Math.max(100, this.context.ackWaitMs / 3))),
        Effect.sync(() => {
          for (const msg of this.held) msg.working()
        })
      )
    )
  }

  /**
   * Stops pulling. `graceful`: finishes what is held here; `immediate`: interrupts the handler and
   * gives everything held back to the server at once (for another process). Returns how many
   * deliveries were given back.
   */
  stop(mode: "graceful" | "immediate"): Effect.Effect<number> {
    return Effect.gen(this, function*() {
      if (!this.running) return 0
      this.running = false
      this.closing = mode
      // Closing a fetch lets its iterator yield what it had already pulled, then end. A graceful
      // stop handles those too: giving them back (`nak`) would be faster, but JetStream 2.9 may then
      // deliver one twice. An immediate stop gives them back.
      for (const pull of this.pulls) {
        void pull.current?.close().catch(() => undefined)
        pull.waiting?.()
      }
      if (mode === "immediate" && this.runner !== undefined) yield* Fiber.interrupt(this.runner)
      yield* Effect.forEach(this.pumps, (pump) =>
        Fiber.await(pump).pipe(
          Effect.timeout(mode === "graceful" ? "30 seconds" : "2 seconds"),
          Effect.catchAll(() => Fiber.interrupt(pump))
        ), { discard: true })
      this.mailbox.close()
      let givenBack = 0
      if (mode === "graceful") {
        if (this.runner !== undefined) yield* Fiber.await(this.runner)
      } else {
        this.mailbox.clear()
        for (const msg of this.held) msg.nak(giveBackDelayMs)
        givenBack = this.held.size
        this.context.settled(givenBack)
        this.held.clear()
        this.metrics.depth(0)
        this.metrics.inFlight(0)
      }
      if (this.keeper !== undefined) yield* Fiber.interrupt(this.keeper)
      return givenBack
    })
  }
}
