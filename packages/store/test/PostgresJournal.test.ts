import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import pg from "pg"
import { PostgresJournal, VersionedStore } from "../src/index.js"
import { created, idOf, updated } from "./fixtures/events.js"
import { pgClient, pgJournal, query, tempSchema } from "./fixtures/postgres.js"
import { journalConformance, Second } from "./JournalConformance.js"

const inTempSchema = <A, E, R>(f: (url: string) => Layer.Layer<A, E, R>) =>
  Layer.unwrapScoped(Effect.map(tempSchema, f))

journalConformance("PostgresJournal", {
  empty: inTempSchema((url) => pgJournal(url)),
  // A second client and journal on the same schema: another connection, as another node has.
  pair: inTempSchema((url) =>
    Layer.scoped(Second, PostgresJournal.make()).pipe(
      Layer.provide(pgClient(url)),
      Layer.provideMerge(pgJournal(url))
    )
  ),
  withRows: (rows) =>
    inTempSchema((url) =>
      Layer.effectDiscard(
        Effect.gen(function*() {
          yield* Journal.Journal
          for (const row of rows) {
            yield* query(
              url,
              `INSERT INTO nerv_events (position, document_id, version, event_id, event_type, schema_version,
               occurred_at, actor, correlation_id, causation_id, encoding, payload)
               VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
              [
                row.position,
                row.documentId,
                row.version,
                row.eventId,
                row.eventType,
                row.schemaVersion,
                row.occurredAt,
                row.actor,
                row.correlationId,
                row.causationId,
                "json",
                Buffer.from(JSON.stringify(row.payload))
              ]
            )
            yield* query(
              url,
              `INSERT INTO nerv_documents (seq, document_id, author, version) VALUES ($1, $2, $3, $4)
               ON CONFLICT (document_id) DO UPDATE SET version = excluded.version`,
              [row.position, row.documentId, row.actor, row.version]
            )
            yield* query(url, "UPDATE nerv_head SET position = greatest(position, $1)", [row.position])
          }
        })
      ).pipe(Layer.provideMerge(pgJournal(url)))
    )
})

const all = (journal: Journal.JournalService, after: number) =>
  Effect.map(Stream.runCollect(journal.read({ after })), (chunk) => Chunk.toReadonlyArray(chunk).map((e) => e.position))

/** Waits until `count` backends of this test (by application name) wait for a lock. */
const lockWaiters = (url: string, name: string, count: number) =>
  query(
    url,
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
    [name]
  ).pipe(
    Effect.map((rows) => rows[0].n as number),
    Effect.repeat({ until: (n) => n >= count, schedule: Schedule.spaced("20 millis") })
  )

describe("PostgresJournal positions", () => {
  it.live("a reader tailing 'after the last position seen' never skips a transaction that commits late", () =>
    Effect.gen(function*() {
      const base = yield* tempSchema
      const name = new URL(base).searchParams.get("options")!.split("=")[1]!
      const url = (() => {
        const u = new URL(base)
        u.searchParams.set("application_name", name)
        return u.toString()
      })()
      const context = yield* Layer.build(
        Layer.scoped(Second, PostgresJournal.make()).pipe(
          Layer.provide(pgClient(url)),
          Layer.provideMerge(pgJournal(url))
        )
      )
      const [a, b] = [Context.get(context, Journal.Journal), Context.get(context, Second)]
      yield* a.append([created(1)], 0)
      // Another session holds document 1's index row: the next append to it stalls inside its
      // transaction, after it took its position.
      const holder = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const client = new pg.Client({ connectionString: base })
          await client.connect()
          await client.query("BEGIN")
          await client.query("SELECT 1 FROM nerv_documents WHERE document_id = $1 FOR UPDATE", [idOf(1)])
          return client
        }),
        (client) => Effect.promise(() => client.end())
      )
      const slow = yield* Effect.fork(a.append([updated(1, 2, { content: "late" })], 1))
      yield* lockWaiters(base, name, 1)
      // A later command on another document, from another node: it commits now (a plain sequence
      // lets it) or waits for the slow one (the head row makes it).
      const later = yield* Effect.fork(b.append([created(2)], 0))
      yield* Effect.raceFirst(Effect.asVoid(Fiber.await(later)), Effect.asVoid(lockWaiters(base, name, 2)))
      // A reader tails the journal, as a follower does: after the last position it saw.
      const seen = [...(yield* all(b, 0))]
      yield* Effect.promise(() => holder.query("ROLLBACK"))
      yield* Fiber.join(slow)
      yield* Fiber.join(later)
      seen.push(...(yield* all(b, seen[seen.length - 1]!)))
      assert.deepStrictEqual(seen, [1, 2, 3], "every committed position is read once, in order")
      assert.deepStrictEqual(yield* all(a, 0), [1, 2, 3])
    }).pipe(Effect.scoped))
})

/** The URL of a fresh schema whose connections name themselves after it (see `lockWaiters`). */
const namedSchema = Effect.map(tempSchema, (base) => {
  const name = new URL(base).searchParams.get("options")!.split("=")[1]!
  const url = new URL(base)
  url.searchParams.set("application_name", name)
  return { base, name, url: url.toString() }
})

describe("PostgresJournal connections", () => {
  it.live("a connection lost mid-append fails it with a JournalError and changes nothing; the next one reconnects", () =>
    Effect.gen(function*() {
      const { base, name, url } = yield* namedSchema
      const journal = Context.get(yield* Layer.build(pgJournal(url)), Journal.Journal)
      yield* journal.append([created(1)], 0)
      const holder = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const client = new pg.Client({ connectionString: base })
          await client.connect()
          await client.query("BEGIN")
          await client.query("SELECT 1 FROM nerv_documents WHERE document_id = $1 FOR UPDATE", [idOf(1)])
          return client
        }),
        (client) => Effect.promise(() => client.end())
      )
      const stalled = yield* Effect.fork(journal.append([updated(1, 2, { content: "lost" })], 1))
      yield* lockWaiters(base, name, 1)
      // The server drops the writer's connection in the middle of its transaction.
      yield* query(
        base,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        [name]
      )
      const error = yield* Effect.flip(Fiber.join(stalled))
      assert.strictEqual(error._tag, "JournalError")
      assert.include(error.message, "the connection to PostgreSQL was lost; nothing was committed")
      yield* Effect.promise(() => holder.query("ROLLBACK"))
      assert.strictEqual(yield* journal.head, 1)
      assert.deepStrictEqual(yield* all(journal, 0), [1])
      // The writer opens a new connection: the same command goes through.
      const [entry] = yield* journal.append([updated(1, 2, { content: "again" })], 1)
      assert.strictEqual(entry!.position, 2)
    }).pipe(Effect.scoped))

  it.live("an idle node's store learns of another node's commit from its notification, and after a reconnect", () =>
    Effect.gen(function*() {
      const { base, name, url } = yield* namedSchema
      // The poll is an hour apart: only a notification (or a reconnect) can wake the follower.
      const idle = Layer.succeed(VersionedStore.FollowInterval, Duration.hours(1))
      const a = Context.get(yield* Layer.build(pgJournal(url)), Journal.Journal)
      const store = Context.get(
        yield* Layer.build(
          VersionedStore.layerFromJournal.pipe(
            Layer.provide(Layer.scoped(Journal.Journal, PostgresJournal.make())),
            Layer.provide(pgClient(url)),
            Layer.provide(idle)
          )
        ),
        DocumentStore.DocumentStore
      ) as VersionedStore.VersionedStoreService
      const followed = (position: number) =>
        store.position.pipe(Effect.repeat({ until: (p) => p >= position, schedule: Schedule.spaced("10 millis") }))
      yield* a.append([created(1)], 0)
      yield* followed(1)
      // Every connection of the idle node is dropped; its listener reconnects and looks again.
      yield* query(base, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [name])
      yield* a.append([created(2)], 0)
      yield* followed(2)
      yield* a.append([updated(2, 2, { content: "x" })], 1)
      yield* followed(3)
      assert.strictEqual((yield* store.get(idOf(2))).version, 2)
    }).pipe(Effect.scoped, Effect.timeout("20 seconds")))
})
