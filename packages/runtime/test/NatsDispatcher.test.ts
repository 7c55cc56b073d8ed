import { assert, describe, it } from "@effect/vitest"
import { RetentionPolicy, StorageType } from "@nats-io/jetstream"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { join } from "node:path"
import * as NatsClient from "../src/nats/NatsClient.js"
import * as NatsDispatcher from "../src/nats/NatsDispatcher.js"
import * as Keyring from "../src/security/Keyring.js"
import { clientLayer, natsUrl, scopedPrefix, sealedWire } from "./fixtures/nats.js"
import { Work } from "./fixtures/work.js"

interface Handled {
  readonly publisher: number
  readonly n: number
  readonly deliveries: number
}

/** A worker process (fixtures/natsWorker.ts) and what it printed. */
const startWorker = (prefix: string, mode: "poison" | "fixed", keys: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcessWithoutNullStreams; readonly handled: Array<Handled> }, Error>(
      (resume) => {
        const child = spawn(process.execPath, [
          "--import",
          "tsx",
          join(import.meta.dirname, "fixtures", "natsWorker.ts"),
          natsUrl,
          prefix,
          mode
        ], { cwd: join(import.meta.dirname, ".."), env: { ...process.env, NERV_MASTER_KEYS: keys } })
        const handled: Array<Handled> = []
        let buffered = ""
        let stderr = ""
        let ready = false
        child.stdout.setEncoding("utf8").on("data", (data: string) => {
          buffered += data
          const lines = buffered.split("\n")
          buffered = lines.pop()!
          for (const line of lines) {
            if (line === "READY") {
              ready = true
              resume(Effect.succeed({ child, handled }))
              continue
            }
            const [, publisher, n, deliveries] = line.split(" ")
            handled.push({ publisher: Number(publisher), n: Number(n), deliveries: Number(deliveries) })
          }
        })
        child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data))
        child.on("exit", (code, signal) => {
          if (!ready) {
            resume(Effect.fail(new Error(`the worker stopped before it was ready (${signal ?? code}): ${stderr}`)))
          }
        })
      }
    ),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  )

/** Polls until `done` holds, at most `seconds`. */
const waitFor = <E, R>(what: string, seconds: number, done: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function*() {
    for (let i = 0; i < seconds * 10; i++) {
      if (yield* done) return
      yield* Effect.sleep("100 millis")
    }
    assert.fail(`waited ${seconds} s for: ${what}`)
  })

const publishers = 10
const perPublisher = 10_000
const isPoison = (n: number) => n % 1_000 === 999

describe("NatsDispatcher across processes", () => {
  it.scopedLive(
    "3 worker processes, 10 publishers × 10k events, one worker killed -9 midway: every event handled, recorded exactly once, in each publisher's order; dead letters survive and are re-driven",
    () =>
      Effect.gen(function*() {
        const prefix = yield* scopedPrefix("kill")
        const client = yield* NatsClient.NatsClient
        const keys = Keyring.generate("test")
        // Where the workers record what they handled, one message per event id at most.
        yield* Effect.acquireRelease(
          Effect.promise(() =>
            client.manager.streams.add({
              name: `${prefix}-rec`,
              subjects: [`${prefix}.rec.>`],
              retention: RetentionPolicy.Limits,
              storage: StorageType.Memory
            })
          ),
          () => Effect.promise(() => client.manager.streams.delete(`${prefix}-rec`).catch(() => false))
        )
        const recorded = Effect.promise(() => client.manager.streams.info(`${prefix}-rec`)).pipe(
          Effect.map((info) => ({ messages: info.state.messages, subjects: info.state.num_subjects }))
        )
        const workers = yield* Effect.all([0, 1, 2].map(() => startWorker(prefix, "poison", keys)), {
          concurrency: "unbounded"
        })
        const dispatcher = yield* NatsDispatcher.make({ schema: Work, prefix }).pipe(
          Effect.provide(sealedWire(keys))
        )

        const publishing = yield* Effect.forEach(
          Array.from({ length: publishers }, (_, p) => p),
          (publisher) =>
            Effect.forEach(Array.from({ length: perPublisher / 100 }, (_, b) => b), (b) =>
              dispatcher.publishAll(Array.from({ length: 100 }, (_, i) => {
                const n = b * 100 + i
                return { _tag: "Work" as const, eventId: `w-${publisher}-${n}`, publisher, n }
              })), { discard: true }),
          { concurrency: "unbounded", discard: true }
        ).pipe(Effect.fork)

        // Mid-stream, one worker dies without a word.
        const victim = workers[0]!
        yield* waitFor(
          "the first worker handled 2,000 events",
          60,
          Effect.sync(() =>
            victim.handled.length >= 2_000
          )
        )
        victim.child.kill("SIGKILL")
        yield* publishing.await

        const total = publishers * perPublisher
        const poison = publishers * (perPublisher / 1_000)
        yield* waitFor(
          "every event that is not poison was recorded",
          120,
          Effect.map(recorded, (r) =>
            r.messages === total - poison)
        )
        yield* waitFor(
          "every poison event was dead-lettered",
          60,
          Effect.map(dispatcher.snapshot, (s) => s.deadLetters === poison)
        )

        // Every event was handled: a handler records it by event id, inside the handler, once. (The
        // workers' printed lines are not the proof: the killed one loses what it had not flushed.)
        assert.deepStrictEqual(yield* recorded, { messages: total - poison, subjects: total - poison })
        // Each worker took each publisher's events in order, redeliveries aside.
        for (const [w, worker] of workers.entries()) {
          const last = new Array<number>(publishers).fill(-1)
          for (const h of worker.handled) {
            if (h.deliveries !== 1) {
              continue
            }
            assert.isAbove(h.n, last[h.publisher]!, `worker ${w}, publisher ${h.publisher}`)
            last[h.publisher] = h.n
          }
        }
        assert.isAbove(workers[1]!.handled.length, 0)
        assert.isAbove(workers[2]!.handled.length, 0)

        // The dead letters are in NATS, readable from this process, which handled nothing.
        const letters = yield* dispatcher.deadLetters
        assert.strictEqual(letters.length, poison)
        assert.deepStrictEqual(
          letters.map((l) => l.event.eventId).sort(),
          Array.from({ length: publishers }, (_, p) =>
            Array.from({ length: perPublisher }, (_, n) =>
              n).filter(isPoison).map((n) => `w-${p}-${n}`)).flat().sort()
        )
        for (const letter of letters) {
          assert.strictEqual(letter.handler, "recorder")
          assert.strictEqual(letter.attempts, 3)
          // Its cause is the handler's failure; or, if one of its deliveries went to the killed
          // worker, the count ran out on that one ("without an outcome") — a delivery counts.
          const failure = Option.getOrUndefined(Cause.failureOption(letter.cause)) as
            | { _tag: string; message: string }
            | undefined
          if (failure === undefined) {
            assert.include(Cause.pretty(letter.cause), "without an outcome", letter.event.eventId)
          } else {
            assert.strictEqual(failure._tag, "Poison")
            assert.strictEqual(failure.message, `${letter.event.eventId} is poison`)
          }
        }

        // Every worker stops; a fixed one starts; the letters are re-driven from here.
        for (const worker of workers) {
          worker.child.kill("SIGKILL")
        }
        const fixed = yield* startWorker(prefix, "fixed", keys)
        assert.strictEqual(yield* dispatcher.redrive({ handler: "recorder" }), poison)
        yield* waitFor(
          "the re-driven letters were recorded",
          60,
          Effect.map(recorded, (r) =>
            r.messages === total)
        )
        assert.deepStrictEqual(yield* recorded, { messages: total, subjects: total })
        assert.strictEqual(fixed.handled.length, poison)
        assert.deepStrictEqual(yield* dispatcher.deadLetters, [])
      }).pipe(Effect.scoped, Effect.provide(clientLayer)),
    { timeout: 240_000 }
  )

  it.scopedLive("stop('immediate') gives back at once what the process held, and another process takes it", () =>
    Effect.gen(function*() {
      const prefix = yield* scopedPrefix("stop")
      const keys = Keyring.generate("k")
      const first = yield* NatsDispatcher.make({ schema: Work, prefix, ackWait: "30 seconds" }).pipe(
        Effect.provide(sealedWire(keys))
      )
      let started = 0
      yield* first.register("Work", () => Effect.zipRight(Effect.sync(() => started++), Effect.never), {
        name: "h",
        timeout: "1 hour"
      })
      const events = Array.from(
        { length: 10 },
        (_, n) => ({ _tag: "Work" as const, eventId: `s-${n}`, publisher: 0, n })
      )
      yield* first.publishAll(events)
      yield* waitFor(
        "the first process holds all ten",
        30,
        Effect.map(first.snapshot, (s) => started === 1 && s.pending === 10)
      )
      const report = yield* first.stop("immediate")
      assert.deepStrictEqual(report, { mode: "immediate", undelivered: 10, discardedScheduled: 0 })
      // Well within the ack wait (30 s), the events are someone else's.
      const second = yield* NatsDispatcher.make({ schema: Work, prefix }).pipe(Effect.provide(sealedWire(keys)))
      const seen = new Set<string>()
      yield* second.register("Work", (e) => Effect.sync(() => seen.add(e.eventId)), { name: "h" })
      yield* waitFor("the second process handled all ten", 10, Effect.sync(() => seen.size === 10))
    }).pipe(Effect.scoped, Effect.provide(clientLayer)))
})
