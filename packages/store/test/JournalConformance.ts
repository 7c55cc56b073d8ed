/**
 * The conformance suite of the `Journal` port, in the style of pyeventsourcing's recorder test
 * cases: every journal (memory, SQLite, and PostgreSQL later) runs it, so they all keep the same
 * promises about ordering, positions, conflicts, paging and upcasting.
 */
import { assert, describe, it } from "@effect/vitest"
import { type DocumentEvent, type Errors, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Upcasting } from "../src/index.js"
import { created, deleted, idOf, updated } from "./fixtures/events.js"

/**
 * How to build the journal under test: empty, or holding rows written in an older shape (the way
 * an older version of NERV wrote them), read with the `Upcasters` in context.
 */
export interface Subject {
  readonly empty: Layer.Layer<Journal.Journal, Errors.JournalError, Scope.Scope>
  /**
   * An empty journal and a second connection to it (`Second`), as another process would open one:
   * separate state in memory, the same journal underneath.
   */
  readonly pair: Layer.Layer<Journal.Journal | Second, Errors.JournalError, Scope.Scope>
  readonly withRows: (
    rows: ReadonlyArray<Upcasting.StoredEvent>
  ) => Layer.Layer<Journal.Journal, Errors.JournalError, Scope.Scope>
}

/** The second connection of `Subject.pair`. */
export class Second extends Context.Tag("test/Second")<Second, Journal.JournalService>() {}

const all = <A>(stream: Stream.Stream<A, Errors.JournalError>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const eventsOf = (entries: ReadonlyArray<Journal.JournalEntry>) => entries.map((entry) => entry.event)

/** Rows as version 1 of NERV wrote them: `DocumentCreated` had `name` and `body`. */
const legacyRows: ReadonlyArray<Upcasting.StoredEvent> = [
  { ...rowOf(created(1), 1), schemaVersion: 1, payload: { name: "Old title", body: "old body" } },
  { ...rowOf(created(2), 2), schemaVersion: 2, payload: { title: "Mid title", body: "mid body" } },
  { ...rowOf(updated(1, 2, { content: "new body" }), 3), schemaVersion: 1, payload: { content: "new body" } },
  { ...rowOf(created(3), 4), schemaVersion: 3, payload: { title: "New title", content: "new content" } }
]

function rowOf(
  event: DocumentEvent.DocumentEvent,
  position: number
): Omit<Upcasting.StoredEvent, "payload" | "schemaVersion"> {
  return {
    position,
    documentId: event.documentId,
    version: event.version,
    eventId: event.eventId,
    eventType: event._tag,
    occurredAt: event.occurredAt.epochMillis,
    actor: event.actor,
    correlationId: event.correlationId,
    causationId: event.causationId
  }
}

/** DocumentCreated: v1 `{ name, body }` → v2 `{ title, body }` → v3 `{ title, content }`. */
const upcasters = Upcasting.layer([
  { eventType: "DocumentCreated", fromVersion: 1, upcast: ({ body, name }) => ({ title: name, body }) },
  { eventType: "DocumentCreated", fromVersion: 2, upcast: ({ body, title }) => ({ title, content: body }) }
])

export const journalConformance = (name: string, subject: Subject) =>
  describe(`${name} journal conformance`, () => {
    const fresh = <A, E>(effect: Effect.Effect<A, E, Journal.Journal>) =>
      Effect.scoped(Effect.provide(effect, subject.empty))

    it.effect("starts empty", () =>
      fresh(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        assert.strictEqual(yield* journal.head, 0)
        assert.deepStrictEqual(yield* all(journal.read()), [])
        assert.deepStrictEqual(yield* all(journal.readDocument(idOf(1))), [])
      })))

    it.effect("assigns global, gap-free positions in commit order and returns the events it read", () =>
      fresh(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const a = yield* journal.append([created(1)], 0)
        const b = yield* journal.append([created(2)], 0)
        const c = yield* journal.append([updated(1, 2, { content: "x" }), updated(1, 3, { title: "y" })], 1)
        assert.deepStrictEqual([...a, ...b, ...c].map((e) => e.position), [1, 2, 3, 4])
        assert.strictEqual(yield* journal.head, 4)
        const read = yield* all(journal.read())
        assert.deepStrictEqual(read.map((e) => e.position), [1, 2, 3, 4])
        assert.deepStrictEqual(eventsOf(read), [
          created(1),
          created(2),
          updated(1, 2, { content: "x" }),
          updated(1, 3, { title: "y" })
        ])
        assert.deepStrictEqual(eventsOf(yield* all(journal.readDocument(idOf(1)))).map((e) => e.version), [1, 2, 3])
      })))

    it.effect("refuses a stale expected version with the actual one, and writes nothing", () =>
      fresh(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        yield* journal.append([created(1)], 0)
        yield* journal.append([updated(1, 2, { content: "x" })], 1)
        const stale = yield* Effect.flip(journal.append([updated(1, 2, { content: "y" })], 1))
        assert.strictEqual(stale._tag, "VersionConflict")
        assert.deepInclude(stale, { documentId: idOf(1), expected: 1, actual: 2 })
        const again = yield* Effect.flip(journal.append([created(1, "again")], 0))
        assert.deepInclude(again, { _tag: "VersionConflict", expected: 0, actual: 2 })
        const ahead = yield* Effect.flip(journal.append([updated(1, 5, { content: "z" })], 4))
        assert.deepInclude(ahead, { _tag: "VersionConflict", expected: 4, actual: 2 })
        assert.strictEqual(yield* journal.head, 2)
        assert.strictEqual((yield* all(journal.read())).length, 2)
      })))

    it.effect("refuses a malformed batch (empty, two documents, a version gap) as a JournalError", () =>
      fresh(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        yield* journal.append([created(1)], 0)
        for (
          const [events, expected] of [
            [[], 0],
            [[created(2), created(3)], 0],
            [[updated(1, 2, { content: "a" }), updated(1, 4, { content: "b" })], 1]
          ] as const
        ) {
          const error = yield* Effect.flip(journal.append(events, expected))
          assert.strictEqual(error._tag, "JournalError")
        }
        assert.strictEqual(yield* journal.head, 1)
      })))

    it.effect("lets exactly one of many concurrent writers at the same expected version win", () =>
      fresh(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        yield* journal.append([created(1)], 0)
        const results = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => Effect.either(journal.append([updated(1, 2, { content: `w${i}` })], 1))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.filter((r) => r._tag === "Right").length, 1)
        for (const result of results) {
          if (result._tag === "Left") assert.deepInclude(result.left, { _tag: "VersionConflict", actual: 2 })
        }
        assert.strictEqual(yield* journal.head, 2)
      })))

    it.effect("commits concurrent writers to different documents without gaps, each in version order", () =>
      fresh(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        yield* Effect.all(
          Array.from({ length: 16 }, (_, d) =>
            Effect.gen(function*() {
              yield* journal.append([created(d + 1)], 0)
              for (let v = 2; v <= 5; v++) yield* journal.append([updated(d + 1, v, { content: `v${v}` })], v - 1)
            })),
          { concurrency: "unbounded" }
        )
        const read = yield* all(journal.read({ pageSize: 7 }))
        assert.deepStrictEqual(read.map((e) => e.position), Array.from({ length: 80 }, (_, i) => i + 1))
        for (let d = 1; d <= 16; d++) {
          const versions = read.filter((e) => e.event.documentId === idOf(d)).map((e) => e.event.version)
          assert.deepStrictEqual(versions, [1, 2, 3, 4, 5])
        }
      })))

    it.effect("reads in pages, from a position, and one document from a version", () =>
      fresh(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        yield* journal.append([created(1)], 0)
        for (let v = 2; v <= 10; v++) yield* journal.append([updated(1, v, { content: `v${v}` })], v - 1)
        yield* journal.append([created(2)], 0)
        yield* journal.append([deleted(2, 2)], 1)
        const paged = yield* Stream.runCollect(Stream.chunks(journal.read({ pageSize: 4 })))
        assert.deepStrictEqual(Chunk.toReadonlyArray(paged).map(Chunk.size).filter((n) => n > 0), [4, 4, 4])
        assert.deepStrictEqual((yield* all(journal.read({ after: 9, pageSize: 2 }))).map((e) => e.position), [
          10,
          11,
          12
        ])
        assert.deepStrictEqual(yield* all(journal.read({ after: 12 })), [])
        assert.deepStrictEqual(
          eventsOf(yield* all(journal.readDocument(idOf(1), { fromVersion: 8 }))).map((e) => e.version),
          [8, 9, 10]
        )
        assert.deepStrictEqual(eventsOf(yield* all(journal.readDocument(idOf(2)))), [created(2), deleted(2, 2)])
      })))

    const paired = <A, E>(effect: Effect.Effect<A, E, Journal.Journal | Second>) =>
      Effect.scoped(Effect.provide(effect, subject.pair))

    it.effect("two connections: what one commits the other reads, at the same positions", () =>
      paired(Effect.gen(function*() {
        const [a, b] = [yield* Journal.Journal, yield* Second]
        yield* a.append([created(1)], 0)
        yield* b.append([created(2)], 0)
        yield* a.append([updated(2, 2, { content: "from a" })], 1)
        for (const journal of [a, b]) {
          assert.strictEqual(yield* journal.head, 3)
          const read = yield* all(journal.read())
          assert.deepStrictEqual(read.map((e) => [e.position, e.event.documentId, e.event.version]), [
            [1, idOf(1), 1],
            [2, idOf(2), 1],
            [3, idOf(2), 2]
          ])
          assert.deepStrictEqual(
            yield* all(journal.readHeaders({ after: 1, pageSize: 1 })),
            read.slice(1).map(({ event, position }) => ({
              position,
              documentId: event.documentId,
              version: event.version,
              eventType: event._tag
            }))
          )
          assert.deepStrictEqual(eventsOf(yield* all(journal.readDocument(idOf(2)))), eventsOf(read.slice(1)))
        }
      })))

    it.effect("two connections: the change token moves when the other one commits", () =>
      paired(Effect.gen(function*() {
        const [a, b] = [yield* Journal.Journal, yield* Second]
        const before = yield* b.changeToken
        assert.strictEqual(yield* b.changeToken, before, "nothing committed, the token stays")
        yield* a.append([created(1)], 0)
        const afterA = yield* b.changeToken
        assert.notStrictEqual(afterA, before, "the other connection committed")
        yield* b.append([created(2)], 0)
        assert.strictEqual(yield* b.changeToken, afterA, "its own commit leaves its token alone")
        assert.notStrictEqual(yield* a.changeToken, yield* Effect.zipRight(b.append([created(3)], 0), a.changeToken))
      })))

    it.effect("two connections: a token read while its own append commits never hides the other's next commit", () =>
      paired(Effect.gen(function*() {
        const [a, b] = [yield* Journal.Journal, yield* Second]
        // A follower keeps the token it read last: whatever moment of its own append it read it in
        // (before, during, or between the commit and the append's answer), a later commit of the
        // other connection must move the token away from it.
        for (let round = 1; round <= 25; round++) {
          const seen = new Set<number>()
          const own = yield* Effect.fork(a.append([created(2 * round)], 0))
          while ((yield* Fiber.poll(own))._tag === "None") seen.add(yield* a.changeToken)
          yield* Fiber.join(own)
          seen.add(yield* a.changeToken)
          yield* b.append([created(2 * round + 1)], 0)
          const after = yield* a.changeToken
          assert.isFalse(seen.has(after), `round ${round}: token ${after} was already read before b's commit`)
        }
      })))

    it.effect("two connections: a forgetting one records, the other reads once, and its token moves", () =>
      paired(Effect.gen(function*() {
        const [a, b] = [yield* Journal.Journal, yield* Second]
        yield* a.append([created(1)], 0)
        yield* a.append([created(2)], 0)
        const before = yield* b.changeToken
        yield* a.recordForgotten(idOf(2))
        yield* a.recordForgotten(idOf(2))
        assert.notStrictEqual(yield* b.changeToken, before)
        const records = yield* b.readForgotten(0)
        assert.deepStrictEqual(records.map((r) => r.documentId), [idOf(2)])
        yield* b.recordForgotten(idOf(1))
        const all = yield* a.readForgotten(0)
        assert.deepStrictEqual(all.map((r) => r.documentId), [idOf(2), idOf(1)])
        assert.isBelow(all[0]!.sequence, all[1]!.sequence)
        assert.deepStrictEqual(yield* a.readForgotten(all[0]!.sequence), all.slice(1))
      })))

    it.effect("two connections: one writer of one expected version wins, across connections", () =>
      paired(Effect.gen(function*() {
        const [a, b] = [yield* Journal.Journal, yield* Second]
        yield* a.append([created(1)], 0)
        const results = yield* Effect.all(
          Array.from(
            { length: 20 },
            (_, i) => Effect.either((i % 2 === 0 ? a : b).append([updated(1, 2, { content: `w${i}` })], 1))
          ),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.filter((r) => r._tag === "Right").length, 1)
        for (const result of results) {
          if (result._tag === "Left") assert.deepInclude(result.left, { _tag: "VersionConflict", actual: 2 })
        }
        assert.strictEqual(yield* b.head, 2)
      })))

    it.effect("two connections: concurrent commits get unique, gap-free positions, each document in order", () =>
      paired(Effect.gen(function*() {
        const [a, b] = [yield* Journal.Journal, yield* Second]
        yield* Effect.all(
          Array.from({ length: 16 }, (_, d) =>
            Effect.gen(function*() {
              const journal = d % 2 === 0 ? a : b
              yield* journal.append([created(d + 1)], 0)
              for (let v = 2; v <= 5; v++) yield* journal.append([updated(d + 1, v, { content: `v${v}` })], v - 1)
            })),
          { concurrency: "unbounded" }
        )
        for (const journal of [a, b]) {
          const read = yield* all(journal.read({ pageSize: 7 }))
          assert.deepStrictEqual(read.map((e) => e.position), Array.from({ length: 80 }, (_, i) => i + 1))
          for (let d = 1; d <= 16; d++) {
            const versions = read.filter((e) => e.event.documentId === idOf(d)).map((e) => e.event.version)
            assert.deepStrictEqual(versions, [1, 2, 3, 4, 5])
          }
        }
      })))

    it.effect("keeps an index of documents with every append: creation order, author, live or deleted", () =>
      paired(Effect.gen(function*() {
        const [a, b] = [yield* Journal.Journal, yield* Second]
        yield* a.append([created(1, "one", "ann")], 0)
        yield* b.append([created(2, "two", "bob")], 0)
        yield* a.append([created(3, "three", "ann")], 0)
        yield* b.append([updated(1, 2, { content: "x" }), updated(1, 3, { content: "y" })], 1)
        yield* a.append([deleted(2, 2)], 1)
        yield* b.append([created(4, "four", "ann")], 0)
        const ids = (summaries: ReadonlyArray<Journal.DocumentSummary>) => summaries.map((d) => d.documentId)
        for (const journal of [a, b]) {
          const live = yield* journal.documents()
          assert.deepStrictEqual(ids(live), [idOf(1), idOf(3), idOf(4)])
          assert.deepInclude(live[0], { author: "ann", version: 3, deleted: false })
          assert.deepStrictEqual(ids(yield* journal.documents({ include: "deleted" })), [idOf(2)])
          assert.deepInclude((yield* journal.documents({ include: "deleted" }))[0], { version: 2, deleted: true })
          assert.deepStrictEqual(ids(yield* journal.documents({ include: "all" })), [1, 2, 3, 4].map(idOf))
          assert.deepStrictEqual(ids(yield* journal.documents({ author: "ann" })), [idOf(1), idOf(3), idOf(4)])
          assert.deepStrictEqual(ids(yield* journal.documents({ author: "bob", include: "all" })), [idOf(2)])
          // Pages: after a sequence, at most a limit, in creation order.
          const first = yield* journal.documents({ include: "all", limit: 2 })
          assert.deepStrictEqual(ids(first), [idOf(1), idOf(2)])
          const rest = yield* journal.documents({ include: "all", after: first[1]!.sequence })
          assert.deepStrictEqual(ids(rest), [idOf(3), idOf(4)])
        }
        // A forgotten document is never enumerated.
        yield* b.recordForgotten(idOf(3))
        assert.deepStrictEqual(ids(yield* a.documents({ include: "all" })), [idOf(1), idOf(2), idOf(4)])
      })))

    it.effect("upcasts rows written in older shapes through the registered chain", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const events = eventsOf(yield* all(journal.read()))
        assert.deepStrictEqual(events.map((e) => e._tag === "DocumentCreated" ? [e.title, e.content] : e._tag), [
          ["Old title", "old body"],
          ["Mid title", "mid body"],
          "DocumentUpdated",
          ["New title", "new content"]
        ])
        // New appends go on after the old rows, in the current shape.
        yield* journal.append([updated(3, 2, { title: "Newer" })], 1)
        assert.strictEqual(yield* journal.head, 5)
      }).pipe(Effect.provide(subject.withRows(legacyRows)), Effect.provide(upcasters), Effect.scoped))

    it.effect("refuses to read a row of a schema version no upcaster reaches", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          Effect.flatMap(Journal.Journal, (journal) => all(journal.read())).pipe(
            Effect.provide(subject.withRows([{ ...legacyRows[3]!, position: 1, schemaVersion: 4 }])),
            Effect.provide(upcasters)
          )
        )
        assert.strictEqual(error._tag, "JournalError")
        assert.include(error.message, "schema version 4 is newer than this program knows (3)")
      }).pipe(Effect.scoped))
  })
