/**
 * The outbox on every journal that has one (memory, SQLite): effects are recorded with the events of
 * their command or not at all, claimed by one claimer at a time, retried, dead-lettered, re-driven.
 */
import { assert, describe, it } from "@effect/vitest"
import { Journal, Outbox } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { join } from "node:path"
import { MemoryJournal, PostgresJournal, SqliteJournal } from "../src/index.js"
import { created, sqliteClient, tempDir, updated } from "./fixtures/events.js"
import { pgClient, tempSchema } from "./fixtures/postgres.js"

const notify = (to: string, message: string) => Outbox.plan(Outbox.Notify, { to, message })

const recorded = (id: string, planned: Outbox.Planned): Outbox.Recorded => ({ id, ...planned })

type Open = Effect.Effect<
  { readonly journal: Journal.JournalService; readonly outbox: Outbox.OutboxService },
  never,
  Scope.Scope
>

const memory: Open = Effect.gen(function*() {
  const journal = yield* MemoryJournal.make
  return { journal, outbox: yield* MemoryJournal.outbox(journal) }
})

const sqliteAt = (filename: string): Open =>
  Effect.gen(function*() {
    const context = yield* Layer.build(SqliteJournal.layer().pipe(Layer.provide(sqliteClient(filename)), Layer.orDie))
    const journal = Effect.runSync(Effect.provide(Journal.Journal, context))
    const outbox = Effect.runSync(Effect.provide(Outbox.Outbox, context))
    return { journal, outbox }
  })

const sqlite: Open = Effect.flatMap(tempDir, (dir) => sqliteAt(join(dir, "nerv.db")))

const postgres: Open = Effect.gen(function*() {
  const url = yield* tempSchema
  const context = yield* Layer.build(PostgresJournal.layer().pipe(Layer.provide(pgClient(url)), Layer.orDie))
  return {
    journal: Effect.runSync(Effect.provide(Journal.Journal, context)),
    outbox: Effect.runSync(Effect.provide(Outbox.Outbox, context))
  }
})

const claimAll = (outbox: Outbox.OutboxService, owner: string, now: number, until = now + 30_000) =>
  outbox.claim({ owner, types: ["notify"], limit: 100, now, until })

for (const [name, open] of [["memory", memory], ["sqlite", sqlite], ["postgres", postgres]] as const) {
  describe(`Outbox (${name})`, () => {
    it.scoped("records a command's effects with its events, and none for a refused append", () =>
      Effect.gen(function*() {
        const { journal, outbox } = yield* open
        yield* journal.append([created(1)], 0, [recorded("e1:0", notify("ann", "created"))])
        yield* journal.append([updated(1, 2, { content: "x" })], 1, [
          recorded("e2:0", notify("ann", "one")),
          recorded("e2:1", notify("bob", "two"))
        ])
        const refused = yield* Effect.flip(
          journal.append([updated(1, 2, { content: "y" })], 1, [recorded("e3:0", notify("ann", "lost"))])
        )
        assert.strictEqual(refused._tag, "VersionConflict")
        const pending = yield* outbox.list({ status: "pending" })
        assert.deepStrictEqual(pending.map((e) => [e.id, e.type, e.documentId, e.version, e.payload]), [
          ["e1:0", "notify", created(1).documentId, 1, { to: "ann", message: "created" }],
          ["e2:0", "notify", created(1).documentId, 2, { to: "ann", message: "one" }],
          ["e2:1", "notify", created(1).documentId, 2, { to: "bob", message: "two" }]
        ])
        assert.deepStrictEqual(yield* outbox.counts(), [{
          type: "notify",
          pending: 3,
          performed: 0,
          dead: 0,
          oldestPendingAt: pending[0]!.recordedAt
        }])
      }))

    it.scoped("one claimer at a time: a claim holds until it expires; a failure is the holder's to record", () =>
      Effect.gen(function*() {
        const { journal, outbox } = yield* open
        yield* journal.append([created(1)], 0, [recorded("a:0", notify("ann", "hi"))])
        const [first] = yield* claimAll(outbox, "p1", 10_000_000_000_000, 10_000_000_001_000)
        assert.strictEqual(first!.id, "a:0")
        assert.strictEqual(first!.attempts, 1)
        assert.deepStrictEqual(yield* claimAll(outbox, "p2", 10_000_000_000_500), [])
        // Only the holder records a failure.
        yield* outbox.failed("a:0", "p2", { error: "not mine", retryAt: undefined })
        assert.strictEqual((yield* outbox.list({ status: "dead" })).length, 0)
        // The claim expired (p1 crashed): p2 takes it, as a second attempt.
        const [second] = yield* claimAll(outbox, "p2", 10_000_000_001_000)
        assert.strictEqual(second!.attempts, 2)
        yield* outbox.failed("a:0", "p2", { error: "mail down", retryAt: 10_000_000_005_000 })
        assert.deepStrictEqual(yield* claimAll(outbox, "p2", 10_000_000_004_999), [])
        const [third] = yield* claimAll(outbox, "p2", 10_000_000_005_000)
        assert.strictEqual(third!.attempts, 3)
        yield* outbox.performed(["a:0"], 10_000_000_005_001)
        assert.deepStrictEqual(yield* claimAll(outbox, "p3", 20_000_000_000_000), [])
        const [done] = yield* outbox.list({ status: "performed" })
        assert.strictEqual(done!.performedAt, 10_000_000_005_001)
        assert.strictEqual(done!.lastError, "mail down")
      }))

    it.scoped("claims only the types asked for, in the order recorded, at most the limit", () =>
      Effect.gen(function*() {
        const { journal, outbox } = yield* open
        yield* journal.append([created(1)], 0, [
          recorded("m:0", { type: "mail", payload: { n: 0 } }),
          recorded("m:1", notify("ann", "a"))
        ])
        yield* journal.append([created(2)], 0, [recorded("n:0", notify("ann", "b"))])
        const now = 10_000_000_000_000
        const claimed = yield* outbox.claim({ owner: "p", types: ["notify"], limit: 1, now, until: now + 1 })
        assert.deepStrictEqual(claimed.map((e) => e.id), ["m:1"])
        const rest = yield* outbox.claim({ owner: "p", types: ["notify", "mail"], limit: 10, now, until: now + 1 })
        assert.deepStrictEqual(rest.map((e) => e.id), ["m:0", "n:0"])
      }))

    it.scoped("dead letters are listed and re-driven, as pending with no attempts", () =>
      Effect.gen(function*() {
        const { journal, outbox } = yield* open
        yield* journal.append([created(1)], 0, [recorded("d:0", notify("ann", "a"))])
        yield* journal.append([created(2)], 0, [recorded("d:1", notify("ann", "b"))])
        const now = 10_000_000_000_000
        for (const effect of yield* claimAll(outbox, "p", now)) {
          yield* outbox.failed(effect.id, "p", { error: "gone", retryAt: undefined })
        }
        assert.deepStrictEqual((yield* outbox.list({ status: "dead" })).map((e) => [e.id, e.lastError]), [
          ["d:0", "gone"],
          ["d:1", "gone"]
        ])
        assert.strictEqual(yield* outbox.redrive(["d:1"], now), 1)
        assert.deepStrictEqual((yield* outbox.list({ status: "pending" })).map((e) => [e.id, e.attempts]), [["d:1", 0]])
        assert.strictEqual(yield* outbox.redrive("all", now), 1)
        assert.deepStrictEqual(
          (yield* outbox.counts()).map((c) => [c.type, c.pending, c.performed, c.dead]),
          [["notify", 2, 0, 0]]
        )
      }))

    it.scoped("wakes a waiting performer when an effect is recorded", () =>
      Effect.gen(function*() {
        const { journal, outbox } = yield* open
        const waiting = yield* Effect.fork(outbox.recorded)
        yield* Effect.yieldNow()
        yield* journal.append([created(1)], 0)
        yield* journal.append([created(2)], 0, [recorded("w:0", notify("ann", "a"))])
        yield* waiting.await
      }))
  })
}

describe("Outbox (sqlite) across restarts", () => {
  it.scoped("what was recorded and not performed is there after reopening, payloads read back", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "nerv.db")
      yield* Effect.scoped(Effect.gen(function*() {
        const { journal } = yield* sqliteAt(file)
        yield* journal.append([created(1)], 0, [recorded("r:0", notify("ann", "survives"))])
      }))
      const { outbox } = yield* sqliteAt(file)
      const [effect] = yield* claimAll(outbox, "after", 10_000_000_000_000)
      assert.deepStrictEqual(effect!.payload, { to: "ann", message: "survives" })
    }))
})
