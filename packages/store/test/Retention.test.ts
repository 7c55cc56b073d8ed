import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { join } from "node:path"
import { Retention, Snapshots } from "../src/index.js"
import { type Backend, backends, storeOn as backendStore } from "./fixtures/backends.js"
import { idOf, listAll, tempDir } from "./fixtures/events.js"
import { everything, snapshotsTaken, workload } from "./fixtures/workload.js"

/** What stops a journal's deletes (a crash between archiving and deleting, as far as the data goes). */
const interruption = {
  SQLite: {
    set: ["CREATE TRIGGER nerv_t_refuse BEFORE DELETE ON nerv_events BEGIN SELECT RAISE(ABORT, 'interrupted'); END"],
    clear: "DROP TRIGGER nerv_t_refuse"
  },
  PostgreSQL: {
    set: [
      "CREATE FUNCTION nerv_t_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'interrupted'; END $$",
      "CREATE TRIGGER nerv_t_refuse BEFORE DELETE ON nerv_events FOR EACH STATEMENT EXECUTE FUNCTION nerv_t_refuse()"
    ],
    clear: "DROP TRIGGER nerv_t_refuse ON nerv_events"
  }
} as const

describe.each(backends)("Retention on $name", (backend: Backend) => {
  /** The store on the backend's journal with snapshots every 10 versions, and retention on it. */
  const storeOn = (address: string) =>
    (backend.name === "SQLite" ? Retention.layerSqlite : Retention.layerPostgres).pipe(
      Layer.provideMerge(backendStore(backend, address, 10))
    )

  it.live("prunes the versions before a document's horizon, and reads answer from it on or refuse", () =>
    Effect.gen(function*() {
      const file = yield* backend.database
      const { before, horizon } = yield* Effect.gen(function*() {
        yield* workload
        yield* snapshotsTaken([26, 16])
        const before = yield* everything
        const horizon = yield* Effect.flatMap(Snapshots.SnapshotStore, (s) => s.latest(idOf(1)))
        // Nothing is old enough yet: a policy of 10,000 days prunes nothing.
        assert.deepStrictEqual(
          yield* Effect.flatMap(Retention.Retention, (r) => r.prune({ olderThan: "10000 days" })),
          {
            events: 0,
            snapshots: 0,
            documents: 0,
            archived: 0
          }
        )
        const pruned = yield* Effect.flatMap(Retention.Retention, (r) => r.prune({ olderThan: 0 }))
        assert.isAbove(pruned.events, 40)
        return { before, horizon: Option.getOrThrow(horizon).version }
      }).pipe(Effect.provide(storeOn(file)), Effect.scoped)

      yield* Effect.gen(function*() {
        const store = yield* DocumentStore.DocumentStore
        const history = yield* store.history(idOf(1))
        assert.strictEqual(history[0]!.version, horizon)
        assert.deepStrictEqual(history, before.histories[0]!.slice(horizon - 1))
        // The document without a snapshot keeps its whole history; latest states are untouched.
        assert.deepStrictEqual(yield* store.history(idOf(2)), before.histories[1])
        assert.deepStrictEqual(yield* listAll(store), before.list)
        assert.deepStrictEqual(yield* Effect.forEach([idOf(1), idOf(2), idOf(3)], store.get), before.latest)
        const early = yield* Effect.flip(store.getAt(idOf(1), 5))
        assert.deepInclude(early, { _tag: "VersionPruned", version: 5, earliest: horizon })
        assert.include(early.message, `its history is kept from version ${horizon} on`)
        const then = yield* Effect.flip(store.asOf(idOf(1), before.histories[0]![4]!.event.occurredAt))
        assert.strictEqual(then._tag, "VersionPruned")
        assert.deepStrictEqual(
          yield* store.getAt(idOf(1), horizon + 1),
          before.histories[0]![horizon]!.document
        )
        // The journal skips the pruned positions; what it kept is in order.
        const positions = Chunk.toReadonlyArray(
          yield* Stream.runCollect((yield* Journal.Journal).read({ pageSize: 5 }))
        )
          .map((entry) => entry.position)
        assert.deepStrictEqual(positions, [...positions].sort((a, b) => a - b))
      }).pipe(Effect.provide(storeOn(file)), Effect.scoped)
    }).pipe(Effect.scoped))

  const entriesOf = (stream: Stream.Stream<Journal.JournalEntry, unknown>) =>
    Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)
  const journalEntries = Effect.flatMap(Journal.Journal, (journal) => entriesOf(journal.read()))
  /** A journal with the workload and its snapshots, and every entry it holds. */
  const written = Effect.gen(function*() {
    yield* workload
    yield* snapshotsTaken([26, 16])
    return yield* journalEntries
  })

  it.live("archives what it prunes first: the archive and the journal hold every event once, readable", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const archive = join(dir, "archive.db")
      yield* Effect.gen(function*() {
        const retention = yield* Retention.Retention
        const before = yield* written
        const plan = yield* retention.plan({ olderThan: 0 })
        assert.isAbove(plan.events, 40)
        assert.strictEqual(plan.documents, 2)
        // Planning changes nothing.
        assert.deepStrictEqual(yield* journalEntries, before)

        const pruned = yield* retention.prune({ olderThan: 0, archive })
        assert.deepStrictEqual(pruned, { ...plan, archived: plan.events })
        const kept = yield* journalEntries
        const archived = yield* entriesOf(retention.readArchive(archive, { pageSize: 7 }))
        assert.strictEqual(archived.length, plan.events)
        assert.strictEqual(kept.length + archived.length, before.length)
        // Nothing lost, nothing twice: together they are the journal as it was, event for event.
        assert.deepStrictEqual([...archived, ...kept].sort((a, b) => a.position - b.position), before)
        const horizon = kept.find((entry) => entry.event.documentId === idOf(1))!.event.version
        assert.deepStrictEqual(
          yield* entriesOf(retention.readArchive(archive, { documentId: idOf(1) })),
          before.filter((entry) => entry.event.documentId === idOf(1) && entry.event.version < horizon)
        )

        // A second run has nothing left to prune or archive.
        assert.deepStrictEqual(yield* retention.prune({ olderThan: 0, archive }), {
          events: 0,
          snapshots: 0,
          documents: 0,
          archived: 0
        })
      }).pipe(Effect.provide(storeOn(yield* backend.database)), Effect.scoped)
    }).pipe(Effect.scoped))

  it.live("a prune interrupted after archiving finishes on the next run, archiving nothing twice", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const archive = join(dir, "archive.db")
      yield* Effect.gen(function*() {
        const retention = yield* Retention.Retention
        const sql = yield* SqlClient.SqlClient
        const before = yield* written
        const plan = yield* retention.plan({ olderThan: 0 })
        // The journal refuses deletes: the events reach the archive, and the prune stops there.
        yield* Effect.forEach(interruption[backend.name as keyof typeof interruption].set, (s) => sql.unsafe(s))
        const stopped = yield* Effect.flip(retention.prune({ olderThan: 0, archive }))
        assert.include(stopped.reason, "could not prune the journal")
        assert.deepStrictEqual(yield* journalEntries, before)
        assert.strictEqual((yield* entriesOf(retention.readArchive(archive))).length, plan.events)
        // The next run finishes it, archiving nothing twice.
        yield* sql.unsafe(interruption[backend.name as keyof typeof interruption].clear)
        assert.deepStrictEqual(yield* retention.prune({ olderThan: 0, archive }), { ...plan, archived: 0 })
        const archived = yield* entriesOf(retention.readArchive(archive))
        assert.deepStrictEqual([...archived, ...yield* journalEntries].sort((a, b) => a.position - b.position), before)
      }).pipe(Effect.provide(storeOn(yield* backend.database)), Effect.scoped)
    }).pipe(Effect.scoped))

  it.live("refuses an archive that is not this journal's, or is the journal itself, deleting nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const archive = join(dir, "archive.db")
      yield* Effect.gen(function*() {
        yield* written
        yield* Effect.flatMap(Retention.Retention, (r) => r.prune({ olderThan: 0, archive }))
      }).pipe(Effect.provide(storeOn(yield* backend.database)), Effect.scoped)

      // Another journal: the same positions and versions, other events.
      const other = yield* backend.database
      yield* Effect.gen(function*() {
        const retention = yield* Retention.Retention
        const before = yield* written
        const archivedBefore = yield* entriesOf(retention.readArchive(archive))
        const refused = yield* Effect.flip(retention.prune({ olderThan: 0, archive }))
        assert.strictEqual(refused._tag, "JournalError")
        assert.match(refused.reason, /holds other events .* it is not this journal's archive; give another file/)
        if (backend.name === "SQLite") {
          const itself = yield* Effect.flip(retention.prune({ olderThan: 0, archive: other }))
          assert.include(itself.reason, "the archive must be another file than the journal")
        }
        const nowhere = yield* Effect.flip(retention.prune({ olderThan: 0, archive: join(dir, "missing", "a.db") }))
        assert.include(nowhere.reason, "could not open the archive")
        assert.deepStrictEqual(yield* journalEntries, before)
        assert.deepStrictEqual(yield* entriesOf(retention.readArchive(archive)), archivedBefore)
        const unreadable = yield* Effect.either(entriesOf(retention.readArchive(join(dir, "none.db"))))
        assert.isTrue(Either.isLeft(unreadable))
        assert.include(Either.isLeft(unreadable) ? String(unreadable.left) : "", "could not open the archive")
      }).pipe(Effect.provide(storeOn(other)), Effect.scoped)
    }).pipe(Effect.scoped))
})
