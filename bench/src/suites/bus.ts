/**
 * Event delivery: NERV's bus and dispatcher against the raw Effect `PubSub` they are built on and
 * the in-process emitters people reach for — Node's `EventEmitter`, `eventemitter3`, `mitt`, an
 * RxJS `Subject` (what NestJS CQRS's event bus is) and Emmett's in-memory message bus.
 *
 * Throughput workloads publish a fixed set of pre-built events and stop the clock once every
 * subscriber has received every one of them (each run checks the count, so nothing is measured
 * that was not delivered): events/s is events *published* per second. Publishers hand events over
 * in batches of `batch` where the system has a batch call (`publishAll`), one by one otherwise;
 * several publishers take turns per batch.
 *
 * Latency workloads publish at a fixed rate (each event on its own, not in bursts) and record, per event, the time from just before the publish call to
 * the start of the handler. Synchronous emitters call their handlers inside `emit`, so their
 * figure is the cost of the call; the Effect systems hand the event to another fiber.
 */
import { getInMemoryMessageBus } from "@event-driven-io/emmett"
import { Dispatcher, EventBus } from "@nerv/runtime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { EventEmitter as EventEmitter3 } from "eventemitter3"
import * as Mitt from "mitt"
import type { Emitter, EventType } from "mitt"
import { EventEmitter } from "node:events"
import { performance } from "node:perf_hooks"
import { Subject } from "rxjs"
import { type BenchContext, type BenchRecord, type Suite, summarize } from "../harness.js"

/** The event every system carries: NERV's shape (`_tag`, `eventId`) plus Emmett's (`type`, `data`). */
interface Tick {
  readonly _tag: "Tick"
  readonly eventId: string
  readonly type: "Tick"
  readonly data: { readonly n: number }
  readonly n: number
}

const makeEvents = (count: number): ReadonlyArray<Tick> =>
  Array.from({ length: count }, (_, n) => ({ _tag: "Tick", eventId: `tick-${n}`, type: "Tick", data: { n }, n }))

// mitt ships ESM at run time but CommonJS-style types, so TypeScript sees its default export one
// level deeper than Node does; take whichever is the function.
const mittModule = Mitt as unknown as { readonly default: unknown }
const mitt = (typeof mittModule.default === "function"
  ? mittModule.default
  : (mittModule.default as { readonly default: unknown }).default) as <
    Events extends Record<EventType, unknown>
  >() => Emitter<Events>

/** Publishers hand over this many events per turn. */
const batch = 1_000

/**
 * The systems, in table order.
 *
 * @since 0.1.0
 */
export const systems = [
  "nerv-bus",
  "nerv-dispatcher",
  "effect-pubsub",
  "eventemitter",
  "eventemitter3",
  "mitt",
  "rxjs-subject",
  "emmett-bus"
] as const
type System = typeof systems[number]

interface Shape {
  readonly publishers: number
  readonly subscribers: number
}

/** Splits the events among the publishers, then into batches. */
const slices = (events: ReadonlyArray<Tick>, publishers: number): Array<Array<ReadonlyArray<Tick>>> =>
  Array.from({ length: publishers }, (_, p) => {
    const mine = events.filter((_, i) => i % publishers === p)
    const batches: Array<ReadonlyArray<Tick>> = []
    for (let i = 0; i < mine.length; i += batch) batches.push(mine.slice(i, i + batch))
    return batches
  })

const expectDelivered = (system: System, received: number, expected: number) => {
  if (received !== expected) throw new Error(`${system} delivered ${received} events, expected ${expected}`)
}

/** A synchronous emitter behind one interface: subscribe a handler, publish an event. */
interface SyncEmitter {
  readonly on: (handler: (event: Tick) => void) => void
  readonly emit: (event: Tick) => void
}

const syncEmitter = (system: System): SyncEmitter => {
  switch (system) {
    case "eventemitter": {
      const emitter = new EventEmitter()
      emitter.setMaxListeners(100)
      return { on: (handler) => emitter.on("Tick", handler), emit: (event) => emitter.emit("Tick", event) }
    }
    case "eventemitter3": {
      const emitter = new EventEmitter3()
      return { on: (handler) => emitter.on("Tick", handler), emit: (event) => emitter.emit("Tick", event) }
    }
    case "mitt": {
      const emitter = mitt<{ Tick: Tick }>()
      return { on: (handler) => emitter.on("Tick", handler), emit: (event) => emitter.emit("Tick", event) }
    }
    case "rxjs-subject": {
      const subject = new Subject<Tick>()
      return { on: (handler) => subject.subscribe(handler), emit: (event) => subject.next(event) }
    }
    default:
      throw new Error(`${system} is not a synchronous emitter`)
  }
}

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** One throughput run: publishes every event, returns once all are delivered. */
const runThroughput = (system: System, shape: Shape, events: ReadonlyArray<Tick>): Promise<number> => {
  const expected = events.length * shape.subscribers
  const work = slices(events, shape.publishers)
  switch (system) {
    case "nerv-bus":
      return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const bus = yield* EventBus.make<Tick>()
        let received = 0
        const done = yield* Deferred.make<void>()
        for (let s = 0; s < shape.subscribers; s++) {
          const stream = yield* bus.subscribe("Tick")
          yield* Effect.forkScoped(Stream.runForEachChunk(stream, (chunk) =>
            Effect.suspend(() => {
              received += chunk.length
              return received === expected ? Deferred.succeed(done, void 0) : Effect.void
            })))
        }
        yield* Effect.forEach(work, (batches) => Effect.forEach(batches, (b) => bus.publishAll(b)), {
          concurrency: "unbounded",
          discard: true
        })
        yield* Deferred.await(done)
        expectDelivered(system, received, expected)
        return events.length
      })))
    case "effect-pubsub":
      return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const pubsub = yield* Effect.acquireRelease(PubSub.bounded<Tick>(EventBus.defaultCapacity), PubSub.shutdown)
        let received = 0
        const done = yield* Deferred.make<void>()
        for (let s = 0; s < shape.subscribers; s++) {
          const dequeue = yield* PubSub.subscribe(pubsub)
          const drain: Effect.Effect<void> = Effect.flatMap(Queue.takeBetween(dequeue, 1, 4_096), (chunk) => {
            received += chunk.length
            return received === expected ? Deferred.succeed(done, void 0) : drain
          })
          yield* Effect.forkScoped(drain)
        }
        yield* Effect.forEach(work, (batches) => Effect.forEach(batches, (b) => PubSub.publishAll(pubsub, b)), {
          concurrency: "unbounded",
          discard: true
        })
        yield* Deferred.await(done)
        expectDelivered(system, received, expected)
        return events.length
      })))
    case "nerv-dispatcher":
      return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Tick>()
        let received = 0
        for (let s = 0; s < shape.subscribers; s++) {
          yield* dispatcher.register("Tick", () =>
            Effect.sync(() => {
              received++
            }))
        }
        yield* Effect.forEach(
          work,
          (batches) => Effect.forEach(batches, (b) => Effect.orDie(dispatcher.publishAll(b))),
          {
            concurrency: "unbounded",
            discard: true
          }
        )
        yield* dispatcher.awaitIdle
        expectDelivered(system, received, expected)
        return events.length
      })))
    case "emmett-bus": {
      const bus = getInMemoryMessageBus()
      let received = 0
      for (let s = 0; s < shape.subscribers; s++) {
        bus.subscribe((_event: Tick) => {
          received++
        }, "Tick")
      }
      return Promise.all(work.map(async (batches) => {
        for (const b of batches) {
          for (const event of b) await bus.publish(event)
          await yieldTurn()
        }
      })).then(() => {
        expectDelivered(system, received, expected)
        return events.length
      })
    }
    default: {
      const emitter = syncEmitter(system)
      let received = 0
      for (let s = 0; s < shape.subscribers; s++) {
        emitter.on(() => {
          received++
        })
      }
      return Promise.all(work.map(async (batches) => {
        for (const b of batches) {
          for (const event of b) emitter.emit(event)
          await yieldTurn()
        }
      })).then(() => {
        expectDelivered(system, received, expected)
        return events.length
      })
    }
  }
}

/** Percentiles of one latency run, in microseconds. */
interface Percentiles {
  readonly p50: number
  readonly p99: number
  readonly p999: number
}

const percentiles = (samplesMs: Float64Array): Percentiles => {
  const sorted = Float64Array.from(samplesMs).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 1_000
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999) }
}

const immediate = Effect.async<void>((resume) => {
  setImmediate(() => resume(Effect.void))
})

/** One latency run: `count` events at `rate` per second, one subscriber. */
const runLatency = async (system: System, rate: number, events: ReadonlyArray<Tick>): Promise<Percentiles> => {
  const count = events.length
  const interval = 1_000 / rate
  const stamps = new Float64Array(count)
  const samples = new Float64Array(count)
  let received = 0
  const record = (event: Tick) => {
    samples[event.n] = performance.now() - stamps[event.n]!
    received++
  }
  // Between two events the pacer yields until the event just published was handled (or the next
  // one is due), then spins without allocating: spinning through the event loop instead would
  // fill the young generation and trigger collections inside the very windows being measured.
  const spinUntil = (due: number) => {
    while (performance.now() < due) {
      // busy-wait
    }
  }
  // The Effect systems publish from a fiber, as an Effect program would.
  const paceEffect = (publish: (event: Tick) => Effect.Effect<unknown>) =>
    Effect.gen(function*() {
      const start = performance.now()
      for (let i = 0; i < count; i++) {
        spinUntil(start + i * interval)
        stamps[i] = performance.now()
        yield* publish(events[i]!)
        const next = start + (i + 1) * interval
        while (received <= i && performance.now() < next) yield* immediate
      }
      while (received < count) yield* immediate
    })
  const pace = async (publish: (event: Tick) => unknown) => {
    const start = performance.now()
    for (let i = 0; i < count; i++) {
      spinUntil(start + i * interval)
      stamps[i] = performance.now()
      publish(events[i]!)
      const next = start + (i + 1) * interval
      while (received <= i && performance.now() < next) await yieldTurn()
    }
    while (received < count) await yieldTurn()
  }
  switch (system) {
    case "nerv-bus":
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const bus = yield* EventBus.make<Tick>()
        const stream = yield* bus.subscribe("Tick")
        yield* Effect.forkScoped(Stream.runForEach(stream, (event) => Effect.sync(() => record(event))))
        yield* paceEffect((event) => bus.publish(event))
      })))
      break
    case "effect-pubsub":
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const pubsub = yield* Effect.acquireRelease(PubSub.bounded<Tick>(EventBus.defaultCapacity), PubSub.shutdown)
        const dequeue = yield* PubSub.subscribe(pubsub)
        yield* Effect.forkScoped(Effect.forever(Effect.map(Queue.takeBetween(dequeue, 1, 4_096), (chunk) => {
          for (const event of chunk) record(event)
        })))
        yield* paceEffect((event) => PubSub.publish(pubsub, event))
      })))
      break
    case "nerv-dispatcher":
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Tick>()
        yield* dispatcher.register("Tick", (event) => Effect.sync(() => record(event)))
        yield* paceEffect((event) => Effect.orDie(dispatcher.publish(event)))
      })))
      break
    case "emmett-bus": {
      const bus = getInMemoryMessageBus()
      bus.subscribe((event: Tick) => record(event), "Tick")
      await pace((event) => bus.publish(event))
      break
    }
    default: {
      const emitter = syncEmitter(system)
      emitter.on(record)
      await pace((event) => emitter.emit(event))
    }
  }
  if (received !== count) throw new Error(`${system} delivered ${received} of ${count} events`)
  return percentiles(samples)
}

const throughputWorkloads: ReadonlyArray<{ readonly name: string; readonly shape: Shape }> = [
  { name: "dispatch 1→1", shape: { publishers: 1, subscribers: 1 } },
  { name: "dispatch 1→10", shape: { publishers: 1, subscribers: 10 } },
  { name: "dispatch 10→1", shape: { publishers: 10, subscribers: 1 } }
]

const latencyWorkloads: ReadonlyArray<{ readonly name: string; readonly rate: number }> = [
  { name: "latency 1k/s", rate: 1_000 },
  { name: "latency 10k/s", rate: 10_000 }
]

const median = (samples: ReadonlyArray<number>) => [...samples].sort((a, b) => a - b)[samples.length >> 1]!

// Every system is warmed up, then the measured runs go round the systems in turn, so a burst of
// load from elsewhere on the machine spreads over all of them instead of landing on one.
const run = async (context: BenchContext): Promise<ReadonlyArray<BenchRecord>> => {
  const records: Array<BenchRecord> = []
  const events = makeEvents(context.quick ? 100_000 : 500_000)
  for (const { name, shape } of throughputWorkloads) {
    // Fan-out multiplies the work per event; fewer events keep every run under a few seconds.
    const some = events.slice(0, shape.subscribers > 1 ? events.length / 5 : events.length)
    const once = (system: System) => async () => {
      const start = performance.now()
      await runThroughput(system, shape, some)
      return some.length / ((performance.now() - start) / 1_000)
    }
    for (const system of systems) {
      for (let i = 0; i < context.warmup; i++) await runThroughput(system, shape, some)
    }
    const samples = new Map<System, Array<number>>(systems.map((system) => [system, []]))
    for (let r = 0; r < context.runs; r++) {
      for (const system of systems) samples.get(system)!.push(await once(system)())
    }
    for (const system of systems) {
      const record = summarize(name, system, "events/s", samples.get(system)!)
      records.push(record)
      console.log(
        `  ${name.padEnd(14)} ${system.padEnd(16)} ${Math.round(record.median).toLocaleString("en-US")} events/s`
      )
    }
  }
  for (const { name, rate } of latencyWorkloads) {
    const seconds = context.quick ? 0.25 : rate >= 10_000 ? 1 : 2
    const latencyEvents = makeEvents(Math.round(rate * seconds))
    for (const system of systems) {
      for (let i = 0; i < context.warmup; i++) await runLatency(system, rate, latencyEvents)
    }
    const runs = new Map<System, Array<Percentiles>>(systems.map((system) => [system, []]))
    for (let r = 0; r < context.runs; r++) {
      for (const system of systems) runs.get(system)!.push(await runLatency(system, rate, latencyEvents))
    }
    for (const system of systems) {
      const mine = runs.get(system)!
      records.push(summarize(name, system, "p50 µs", mine.map((r) => r.p50)))
      records.push(summarize(name, system, "p99 µs", mine.map((r) => r.p99)))
      records.push(summarize(name, system, "p99.9 µs", mine.map((r) => r.p999)))
      console.log(
        `  ${name.padEnd(14)} ${system.padEnd(16)} p50 ${median(mine.map((r) => r.p50)).toFixed(1)} µs, p99 ${
          median(mine.map((r) => r.p99)).toFixed(1)
        } µs, p99.9 ${median(mine.map((r) => r.p999)).toFixed(1)} µs`
      )
    }
  }
  return records
}

/**
 * The bus suite.
 *
 * @since 0.1.0
 */
export const suite: Suite = { name: "bus: NERV bus and dispatcher vs peers", run }

/**
 * The targets, checked against one run's records.
 *
 * @since 0.1.0
 */
export const targets = (records: ReadonlyArray<BenchRecord>): Array<{
  readonly target: string
  readonly measured: string
  readonly met: boolean
}> => {
  const find = (workload: string, system: string, metric: string) =>
    records.find((r) => r.workload === workload && r.system === system && r.metric === metric)
  const out: Array<{ target: string; measured: string; met: boolean }> = []
  const bus11 = find("dispatch 1→1", "nerv-bus", "events/s")
  const raw11 = find("dispatch 1→1", "effect-pubsub", "events/s")
  if (bus11 && raw11) {
    const ratio = bus11.median / raw11.median
    out.push({
      target: "nerv-bus 1→1 ≥ 0.7× effect-pubsub",
      measured: `${ratio.toFixed(2)}×`,
      met: ratio >= 0.7
    })
  }
  for (const system of ["nerv-bus", "nerv-dispatcher"]) {
    const fan = find("dispatch 1→10", system, "events/s")
    if (fan) {
      out.push({
        target: `${system} 1→10 ≥ 1,000,000 events/s`,
        measured: `${Math.round(fan.median).toLocaleString("en-US")} events/s (${(fan.median / 1e6).toFixed(2)}×)`,
        met: fan.median >= 1e6
      })
    }
    const p99 = find("latency 10k/s", system, "p99 µs")
    if (p99) {
      out.push({
        target: `${system} p99 ≤ 25 µs at 10k events/s`,
        measured: `${p99.median.toFixed(1)} µs`,
        met: p99.median <= 25
      })
    }
    const seed = find("dispatch 10→1", system, "events/s")
    const p999 = find("latency 1k/s", system, "p99.9 µs")
    if (seed && p999) {
      out.push({
        target: `${system} seed: ≥ 100 events/s from 10 publishers, < 10 ms latency`,
        measured: `${Math.round(seed.median).toLocaleString("en-US")} events/s, p99.9 ${
          (p999.median / 1_000).toFixed(3)
        } ms at 1k/s`,
        met: seed.median >= 100 && p999.median < 10_000
      })
    }
  }
  return out
}
