import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import { Document, DocumentEvent, EventBus as Port, Journal, NervEvent } from "@nerv/core"
import { MemoryJournal } from "@nerv/store"
import { PayloadCodec, SqliteJournal } from "@nerv/store"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NatsClient from "../src/nats/NatsClient.js"
import * as NatsEvents from "../src/nats/NatsEvents.js"
import type { MessageUnreadable } from "../src/security/BusCodec.js"
import * as Keyring from "../src/security/Keyring.js"
import { natsUrl, scopedPrefix, sealedWire } from "./fixtures/nats.js"
import { masterKeys } from "./security/fixtures.js"

const idOf = (n: number) => Document.DocumentId.make(`00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`)
const eventId = (doc: number, version: number) =>
  `20000000-0000-4000-8000-${(doc * 1_000 + version).toString(16).padStart(12, "0")}`
const meta = (doc: number, version: number) => ({
  eventId: eventId(doc, version),
  documentId: idOf(doc),
  version,
  occurredAt: DateTime.unsafeMake(Date.UTC(2026, 10, 1) + version),
  actor: "ann",
  correlationId: `c-${doc}`,
  causationId: `c-${doc}`
})
const eventOf = (doc: number, version: number): DocumentEvent.DocumentEvent =>
  version === 1
    ? new DocumentEvent.DocumentCreated({ ...meta(doc, 1), title: `secret title ${doc}`, content: "secret content" })
    : new DocumentEvent.DocumentUpdated({ ...meta(doc, version), content: `secret content ${version}` })

/** One node: its own connection and wire codecs, a bus on the shared journal. */
const node = (journal: Journal.JournalService, prefix: string, keys: string, options?: NatsEvents.Options) =>
  Effect.gen(function*() {
    const client = yield* NatsClient.make({ servers: natsUrl, name: "nerv-test-node" })
    const context = yield* Layer.build(sealedWire(keys))
    const made = yield* NatsEvents.make({ prefix, storage: "memory", ...options }).pipe(
      Effect.provide(context),
      Effect.provideService(NatsClient.NatsClient, client),
      Effect.provideService(Journal.Journal, journal)
    )
    return { ...made, client }
  })

/** Commits one event per document in turn, as the write path does: journal first, then the bus. */
const commit = (journal: Journal.JournalService, bus: Port.Bus<NervEvent.NervEvent>, docs: number, rounds: number) =>
  Effect.gen(function*() {
    for (let version = 1; version <= rounds; version++) {
      for (let doc = 1; doc <= docs; doc++) {
        const event = eventOf(doc, version)
        yield* journal.append([event], version - 1)
        yield* bus.publish(event)
      }
    }
  })

/** The first `count` document events of a bus, those it delivered before this subscribed included. */
const collect = (bus: Port.Bus<NervEvent.NervEvent>, count: number) =>
  Effect.flatMap(
    bus.subscribe(DocumentEvent.tags, { replay: true }),
    (stream) =>
      Effect.fork(
        Stream.runCollect(Stream.take(stream, count)).pipe(
          Effect.map((chunk) => Array.from(chunk, (event) => event.eventId)),
          Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`fewer than ${count} events came`) })
        )
      )
  )

const journalOrder = (journal: Journal.JournalService, after = 0) =>
  Effect.map(Stream.runCollect(journal.read({ after })), (chunk) => Array.from(chunk, (e) => e.event.eventId))

describe("NatsEvents", () => {
  it.scopedLive("committed events reach every node's subscribers in position order, the committing node's too", () =>
    Effect.gen(function*() {
      const prefix = yield* scopedPrefix("ev")
      const journal = yield* MemoryJournal.make
      const a = yield* node(journal, prefix, masterKeys.k1)
      const b = yield* node(journal, prefix, masterKeys.k1)
      const onA = yield* collect(a.bus, 300)
      const onB = yield* collect(b.bus, 300)
      // Both nodes commit, interleaved.
      yield* Effect.all([commit(journal, a.bus, 10, 15), commit(journal, b.bus, 0, 0)], { concurrency: 2 })
      const more = Array.from({ length: 10 }, (_, i) => 100 + i)
      for (let version = 1; version <= 15; version++) {
        for (const doc of more) {
          const event = eventOf(doc, version)
          yield* journal.append([event], version - 1)
          yield* (doc % 2 === 0 ? a.bus : b.bus).publish(event)
        }
      }
      const expected = yield* journalOrder(journal)
      assert.strictEqual(expected.length, 300)
      assert.deepStrictEqual(yield* Fiber.join(onA), expected)
      assert.deepStrictEqual(yield* Fiber.join(onB), expected)
      assert.strictEqual(yield* b.events.delivered, 300)
      // Events that are not journaled stay where they were published.
      const failed = NervEvent.OperationFailed.make({
        eventId: "4a7d1c1e-0000-4000-8000-000000000001",
        operation: "Documents.update",
        requestId: "r",
        error: "VersionConflict",
        message: "stale",
        duration: Duration.millis(2),
        occurredAt: DateTime.unsafeMake(0)
      })
      yield* a.bus.publish(failed)
      assert.deepStrictEqual((yield* a.bus.history({ tags: ["OperationFailed"] })).map((e) => e.eventId), [
        failed.eventId
      ])
      assert.deepStrictEqual(yield* b.bus.history({ tags: ["OperationFailed"] }), [])
    }))

  it.scopedLive("no gap and no duplicate across reconnects, and a restarted node resumes from its checkpoint", () =>
    Effect.gen(function*() {
      const prefix = yield* scopedPrefix("ev")
      const journal = yield* MemoryJournal.make
      const a = yield* node(journal, prefix, masterKeys.k1)
      const scope = yield* Scope.make()
      const b = yield* node(journal, prefix, masterKeys.k1).pipe(Scope.extend(scope))
      const onB = yield* collect(b.bus, 200).pipe(Scope.extend(scope))
      const writing = yield* Effect.fork(commit(journal, a.bus, 20, 20))
      // B's connection drops three times while A commits.
      for (let i = 0; i < 3; i++) {
        yield* b.events.awaitDelivered(50 * (i + 1))
        yield* Effect.promise(() => b.client.connection.reconnect())
      }
      const first = yield* Fiber.join(onB)
      assert.deepStrictEqual(first, (yield* journalOrder(journal)).slice(0, 200))
      // B goes away while A keeps committing, and comes back from its checkpoint.
      yield* Scope.close(scope, Exit.void)
      const checkpoint = yield* b.events.delivered
      assert.isAtLeast(checkpoint, 200)
      yield* Effect.sleep("100 millis")
      const again = yield* node(journal, prefix, masterKeys.k1, { after: checkpoint })
      yield* Fiber.join(writing)
      const rest = yield* collect(again.bus, 400 - checkpoint)
      assert.deepStrictEqual(yield* Fiber.join(rest), yield* journalOrder(journal, checkpoint))
    }))

  it.scopedLive("a node without the key gets a typed error for each message and still delivers every event, from the journal", () =>
    Effect.gen(function*() {
      const prefix = yield* scopedPrefix("ev")
      const journal = yield* MemoryJournal.make
      const a = yield* node(journal, prefix, masterKeys.k1)
      const refused: Array<MessageUnreadable> = []
      const stranger = yield* node(journal, prefix, masterKeys.k2, {
        publish: false,
        onUnreadable: (error) => Effect.sync(() => refused.push(error))
      })
      const onStranger = yield* collect(stranger.bus, 20)
      yield* commit(journal, a.bus, 4, 5)
      assert.deepStrictEqual(yield* Fiber.join(onStranger), yield* journalOrder(journal))
      assert.isAbove(refused.length, 0)
      for (const error of refused) {
        assert.strictEqual(error._tag, "MessageUnreadable")
        assert.include(error.reason, "does not hold")
      }
    }))

  it.scopedLive(
    "across OS processes: a node killed -9 mid-stream resumes from its checkpoint, with no gap and no duplicate",
    () =>
      Effect.gen(function*() {
        const prefix = yield* scopedPrefix("ev")
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-events-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const file = join(dir, "journal.db")
        const keys = Keyring.generate("k")
        const context = yield* Layer.build(
          Layer.mergeAll(
            SqliteJournal.layer().pipe(
              Layer.provide(SqliteClient.layer({ filename: file })),
              Layer.provide(PayloadCodec.layerJson)
            ),
            NatsClient.layer({ servers: natsUrl }),
            sealedWire(keys)
          )
        )
        const journal = yield* Effect.provide(Journal.Journal, context)
        const { bus } = yield* NatsEvents.make({ prefix, storage: "memory" }).pipe(Effect.provide(context))
        const first = yield* startNode(prefix, file, 0, keys)
        const writing = yield* Effect.fork(commit(journal, bus, 20, 50))
        yield* waitUntil(() => first.seen.length >= 300)
        first.child.kill("SIGKILL")
        yield* Effect.sleep("200 millis")
        const checkpoint = first.seen.length
        const order = yield* journalOrder(journal)
        assert.deepStrictEqual(first.seen, order.slice(0, checkpoint))
        // The node's checkpoint is the position of the last event it printed (positions start at 1).
        const second = yield* startNode(prefix, file, checkpoint, keys)
        yield* Fiber.join(writing)
        yield* waitUntil(() => second.seen.length >= 1_000 - checkpoint)
        assert.deepStrictEqual(second.seen, (yield* journalOrder(journal)).slice(checkpoint))
      }),
    { timeout: 120_000 }
  )
})

/** A node process (fixtures/eventsNode.ts) and the event ids it printed. */
const startNode = (prefix: string, file: string, after: number, keys: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcessWithoutNullStreams; readonly seen: Array<string> }, Error>((resume) => {
      const child = spawn(process.execPath, [
        "--import",
        "tsx",
        join(import.meta.dirname, "fixtures", "eventsNode.ts"),
        natsUrl,
        prefix,
        file,
        String(after)
      ], { cwd: join(import.meta.dirname, ".."), env: { ...process.env, NERV_MASTER_KEYS: keys } })
      const seen: Array<string> = []
      let buffered = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (data: string) => {
        buffered += data
        const lines = buffered.split("\n")
        buffered = lines.pop()!
        for (const line of lines) {
          if (line === "READY") resume(Effect.succeed({ child, seen }))
          else if (line.startsWith("E ")) seen.push(line.slice(2))
        }
      })
      child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data))
      child.on("exit", (code, signal) => {
        if (signal !== "SIGKILL") resume(Effect.fail(new Error(`the node stopped (${signal ?? code}): ${stderr}`)))
      })
    }),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  )

const waitUntil = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 600 && !done(); i++) yield* Effect.sleep("100 millis")
    assert.isTrue(done(), "waited 60 s")
  })
