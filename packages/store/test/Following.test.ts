/**
 * Two processes' views of one journal, in one test process: each store is a view that follows the
 * journal by position, so what one commits the other reads, and a command decided on a view that
 * was behind catches up instead of failing. The same cases run on two connections to an in-memory
 * journal, to one SQLite file and to one PostgreSQL schema; `runtime/test/MultiProcess.test.ts` runs them as OS processes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Access, type Document, Documents, DocumentStore, EventBus, IdGenerator, Journal, Notifier } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { JournalSubscription, MemoryJournal, PostgresJournal, SqliteJournal, VersionedStore } from "../src/index.js"
import { quiet, smallBudget, sqliteClient, sqliteJournal, sqliteStore, tempDir } from "./fixtures/events.js"
import { pgClient, pgJournal, tempSchema } from "./fixtures/postgres.js"

/** Ids that do not collide across the two processes' layers. */
const quietRandom = Layer.merge(quiet(), Layer.succeed(IdGenerator.IdGenerator, { next: Effect.sync(randomUUID) }))

type Services =
  | DocumentStore.DocumentStore
  | Journal.Journal
  | EventBus.EventBus
  | Notifier.Notifier
  | IdGenerator.IdGenerator
  | Access.Guard
  | Access.Principal
type Process = Context.Context<Services>

/** Two views of one journal, as two processes have: a store each, on a connection each. */
type Pair = (
  options?: { readonly lagging?: boolean }
) => Effect.Effect<readonly [Process, Process], unknown, Scope.Scope>

/**
 * A journal whose change token never moves: a view on it only learns what others committed when a
 * refusal makes it catch up (as after a lost notification, or in the moment between the look and
 * the commit).
 */
const lagging = (journal: Journal.JournalService): Journal.JournalService => ({
  ...journal,
  changeToken: Effect.succeed(0)
})

const build = (journal: Layer.Layer<Journal.Journal, unknown, Scope.Scope>) =>
  Layer.build(
    Layer.mergeAll(
      VersionedStore.layerFromJournal.pipe(Layer.provideMerge(journal), Layer.provide(smallBudget)),
      quietRandom
    )
  )

const memoryPair: Pair = (options) =>
  Effect.gen(function*() {
    const first = yield* MemoryJournal.make
    const second = yield* MemoryJournal.connect(first)
    const a = yield* build(Layer.succeed(Journal.Journal, first))
    const b = yield* build(Layer.succeed(Journal.Journal, options?.lagging === true ? lagging(second) : second))
    return [a, b] as const
  })

const sqlitePair: Pair = (options) =>
  Effect.gen(function*() {
    const file = join(yield* tempDir, "journal.db")
    const a = yield* Layer.build(Layer.merge(sqliteStore(file, 1_000), quietRandom))
    const second = Layer.scoped(
      Journal.Journal,
      Effect.map(SqliteJournal.make(), (journal) => options?.lagging === true ? lagging(journal) : journal)
    ).pipe(Layer.provide(sqliteClient(file)), Layer.provide(sqliteJournal(file)))
    const b = yield* build(second)
    return [a, b] as const
  })

const postgresPair: Pair = (options) =>
  Effect.gen(function*() {
    const url = yield* tempSchema
    const a = yield* build(pgJournal(url))
    const second = Layer.scoped(
      Journal.Journal,
      Effect.map(PostgresJournal.make(), (journal) => options?.lagging === true ? lagging(journal) : journal)
    ).pipe(Layer.provide(pgClient(url)), Layer.provide(pgJournal(url)))
    const b = yield* build(second)
    return [a, b] as const
  })

const on = (process: Process) => <A, E>(effect: Effect.Effect<A, E, Services>) => Effect.provide(effect, process)

const following = (name: string, pair: Pair) =>
  describe(`${name}: every process's store follows the journal`, () => {
    it.scoped("what one process commits, another reads at once, and can then change", () =>
      Effect.gen(function*() {
        const [a, b] = yield* pair()
        const id = yield* on(a)(Documents.create({ title: "Plan", content: "Draft" }).pipe(Access.as("ann")))
        assert.strictEqual((yield* on(b)(Documents.get(id))).content, "Draft")
        assert.deepStrictEqual((yield* on(b)(Documents.list())).map((d) => d.id), [id])
        const changed = yield* on(b)(Documents.update(id, { content: "Ship it" }).pipe(Access.as("bob")))
        assert.strictEqual(changed.version, 2)
        assert.strictEqual((yield* on(a)(Documents.get(id))).content, "Ship it")
        yield* on(a)(Documents.update(id, { title: "Launch" }, { expectedVersion: 2 }).pipe(Access.as("ann")))
        const historyOf = (process: Process) =>
          Effect.map(on(process)(Documents.history(id)), (versions) => versions.map((v) => v.document))
        assert.deepStrictEqual(yield* historyOf(b), yield* historyOf(a))
        assert.deepStrictEqual((yield* historyOf(b)).map((d) => [d.version, d.title, d.content]), [
          [1, "Plan", "Draft"],
          [2, "Plan", "Ship it"],
          [3, "Launch", "Ship it"]
        ])
      }))

    it.scoped("a blind update decided on a view that was behind applies to the latest version", () =>
      Effect.gen(function*() {
        const [a, b] = yield* pair({ lagging: true })
        const id = yield* on(a)(Documents.create({ title: "Plan", content: "v1" }).pipe(Access.as("ann")))
        // b has never seen the document: the refusal makes it catch up, and it decides again.
        const first = yield* on(b)(Documents.update(id, { content: "b1" }).pipe(Access.as("bob")))
        assert.strictEqual(first.version, 2)
        yield* on(a)(Documents.update(id, { content: "a2" }).pipe(Access.as("ann")))
        yield* on(a)(Documents.update(id, { content: "a3" }).pipe(Access.as("ann")))
        // b's view holds version 2; the journal refuses it, and b decides on version 4.
        const second = yield* on(b)(Documents.update(id, { content: "b2" }).pipe(Access.as("bob")))
        assert.deepInclude(second, { version: 5, content: "b2" })
        const journal = yield* on(a)(Journal.Journal)
        const contents = Chunk.toReadonlyArray(yield* Stream.runCollect(journal.readDocument(id))).map((e) =>
          e.event._tag === "DocumentUpdated" ? e.event.content : "created"
        )
        assert.deepStrictEqual(contents, ["created", "b1", "a2", "a3", "b2"])
      }))

    it.scoped("an update naming a stale version is refused with the true one, which a re-read gives", () =>
      Effect.gen(function*() {
        const [a, b] = yield* pair({ lagging: true })
        const id = yield* on(a)(Documents.create({ title: "Plan", content: "v1" }).pipe(Access.as("ann")))
        const read = yield* on(b)(Documents.get(id))
        yield* on(a)(Documents.update(id, { content: "v2" }).pipe(Access.as("ann")))
        const refused = yield* Effect.flip(
          on(b)(Documents.update(id, { content: "mine" }, { expectedVersion: read.version }).pipe(Access.as("bob")))
        )
        assert.deepInclude(refused, { _tag: "VersionConflict", expected: 1, actual: 2 })
        assert.include(refused.message, "is at version 2, expected 1; read it again and retry")
        // The advice works: the re-read gives version 2, and an update naming it goes through.
        const again = yield* on(b)(Documents.get(id))
        assert.deepInclude(again, { version: 2, content: "v2" })
        const done = yield* on(b)(
          Documents.update(id, { content: "mine" }, { expectedVersion: 2 }).pipe(Access.as("bob"))
        )
        assert.strictEqual(done.version, 3)
      }))

    it.scoped("an update naming the true version goes through even if the view had not seen it yet", () =>
      Effect.gen(function*() {
        const [a, b] = yield* pair({ lagging: true })
        const id = yield* on(a)(Documents.create({ title: "Plan", content: "v1" }).pipe(Access.as("ann")))
        yield* on(b)(Documents.get(id))
        const latest = yield* on(a)(Documents.update(id, { content: "v2" }).pipe(Access.as("ann")))
        const done = yield* on(b)(
          Documents.update(id, { content: "v3" }, { expectedVersion: latest.version }).pipe(Access.as("bob"))
        )
        assert.deepInclude(done, { version: 3, content: "v3" })
      }))

    it.scopedLive("a subscription by journal position gets what every process commits, in order, once", () =>
      Effect.gen(function*() {
        const [a, b] = yield* pair()
        const journal = yield* on(b)(Journal.Journal)
        const seen = yield* JournalSubscription.fromPosition(journal, 0, { pollInterval: 5 }).pipe(
          Stream.take(20),
          Stream.runCollect,
          Effect.fork
        )
        yield* Effect.forEach(
          Array.from({ length: 10 }, (_, n) => n),
          (n) =>
            Effect.flatMap(
              on(n % 2 ? a : b)(Documents.create({ title: `doc ${n}`, content: "v1" }).pipe(Access.as("ann"))),
              (id) => on(n % 2 ? b : a)(Documents.update(id, { content: "v2" }).pipe(Access.as("bob")))
            ),
          { concurrency: 4, discard: true }
        )
        const entries = Chunk.toReadonlyArray(yield* Fiber.join(seen))
        assert.deepStrictEqual(entries.map((e) => e.position), Array.from({ length: 20 }, (_, i) => i + 1))
        assert.deepStrictEqual(
          entries.map((e) => e.event.eventId),
          Chunk.toReadonlyArray(yield* Stream.runCollect((yield* on(a)(Journal.Journal)).read())).map((e) =>
            e.event.eventId
          )
        )
      }))

    it.scoped("concurrent commands from two processes: every view holds every version once, as the journal", () =>
      Effect.gen(function*() {
        const [a, b] = yield* pair()
        const ids = yield* Effect.forEach(
          [1, 2, 3],
          (n) => on(n % 2 ? a : b)(Documents.create({ title: `doc ${n}`, content: "v1" }).pipe(Access.as("ann")))
        )
        yield* Effect.all(
          Array.from({ length: 8 }, (_, w) =>
            Effect.forEach(
              Array.from({ length: 10 }, (_, i) => i),
              (i) =>
                on(w % 2 ? a : b)(
                  Documents.update(ids[(w + i) % 3]!, { content: `w${w} #${i}` }).pipe(Access.as(`w${w}`))
                ),
              { discard: true }
            )),
          { concurrency: "unbounded", discard: true }
        )
        const journal = yield* on(a)(Journal.Journal)
        for (const id of ids) {
          const fromJournal = Chunk.toReadonlyArray(yield* Stream.runCollect(journal.readDocument(id)))
          for (const process of [a, b]) {
            const versions = yield* on(process)(Documents.history(id))
            assert.deepStrictEqual(
              versions.map((v) => v.event),
              fromJournal.map((e) => e.event)
            )
          }
        }
        const total = (yield* on(a)(Documents.list())).reduce((n, d: Document.Document) => n + d.version, 0)
        assert.strictEqual(total, 3 + 80)
        // The same documents in both views (their order across processes is the read model's).
        const byId = (documents: ReadonlyArray<Document.Document>) =>
          [...documents].sort((x, y) => x.id < y.id ? -1 : 1)
        assert.deepStrictEqual(byId(yield* on(b)(Documents.list())), byId(yield* on(a)(Documents.list())))
      }))
  })

describe("a view's follower", () => {
  it.scoped("a read that comes while another fiber reads the journal waits for that read and sees what it brings", () =>
    Effect.gen(function*() {
      const first = yield* MemoryJournal.make
      const second = yield* MemoryJournal.connect(first)
      const entered = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      let gated = false
      // b's reads of the journal's headers wait at the gate once it is armed.
      const slow: Journal.JournalService = {
        ...second,
        readHeaders: (options) =>
          gated
            ? Stream.unwrap(
              Effect.as(
                Effect.zipRight(Deferred.succeed(entered, undefined), Deferred.await(gate)),
                second.readHeaders(options)
              )
            )
            : second.readHeaders(options)
      }
      const a = yield* build(Layer.succeed(Journal.Journal, first))
      const b = yield* build(Layer.succeed(Journal.Journal, slow))
      const id = yield* on(a)(Documents.create({ title: "Plan", content: "v1" }).pipe(Access.as("ann")))
      assert.strictEqual((yield* on(b)(Documents.get(id))).content, "v1")
      yield* on(a)(Documents.update(id, { content: "v2" }).pipe(Access.as("ann")))
      gated = true
      const firstRead = yield* Effect.fork(on(b)(Documents.get(id)))
      yield* Deferred.await(entered)
      // A second read while the first one's headers are still on their way: it must not take the
      // token the first one saw as a sign that the view already holds what it announces.
      const secondRead = yield* Effect.fork(on(b)(Documents.get(id)))
      yield* Effect.yieldNow().pipe(Effect.repeatN(20))
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(secondRead)).content, "v2")
      assert.strictEqual((yield* Fiber.join(firstRead)).content, "v2")
    }))
})

following("in memory", memoryPair)
following("SQLite", sqlitePair)
following("PostgreSQL", postgresPair)
