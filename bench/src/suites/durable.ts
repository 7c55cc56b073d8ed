/**
 * The durable store, side by side with what it is built on and with its peer:
 * - `durable append`: NERV commands on the SQLite journal (64 concurrent writers,
 *   synchronous=FULL, group commit), the same with an outbox (`nerv-durable-outbox`: each update also
 *   records its notification in its transaction, performed by a worker with a no-op performer), vs
 *   raw better-sqlite3 inserts into the same kind of table,
 *   one, 64 (the largest group 64 writers can form) and 1000 per transaction, also at
 *   synchronous=FULL in WAL mode.
 * - `durable append postgres`: the same on PostgreSQL (see durablePostgres.ts).
 * - `memory commands`: NERV's in-memory commands vs Emmett's `CommandHandler` on its in-memory
 *   event store, on the same workload (documents created, then updated).
 * - `memory commands one document`: the same, on one document that already has `depth` versions
 *   (100k in full mode): the cost of a command when the history is long.
 * - `rebuild 1M`: rebuilding the store from a journal of 1M events (no snapshots: every event is
 *   read, decoded, checked and applied) vs raw better-sqlite3 iterate + JSON.parse of the rows.
 * - `restart with snapshots`: the time to rebuild from snapshots, 1 document × N versions vs
 *   N documents × 1 version (seconds, lower is better).
 */
import { CommandHandler, getInMemoryEventStore } from "@event-driven-io/emmett"
import { Access, Document, DocumentEvent, Documents, DocumentStore, Journal, Outbox } from "@nerv/core"
import { MemoryJournal, PayloadCodec, Rebuild, Snapshots, SqliteJournal, VersionedStore } from "@nerv/store"
import Database from "better-sqlite3"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type BenchContext, type BenchRecord, type Suite, summarize, throughput } from "../harness.js"
import { memoryGuard, nervWorkload, outboxLayer, programLayer, sqliteLayer, sqliteStore } from "../layers.js"
import { durableAppendPostgres } from "./durablePostgres.js"

const memoryLayer = Layer.merge(
  VersionedStore.layerFromJournal.pipe(Layer.provideMerge(MemoryJournal.layer)),
  memoryGuard
)

const payload = (v: number) => JSON.stringify({ content: `version ${v} of a document` })

/** A table like the journal's: the same columns and the same unique (document, version) index. */
const rawDatabase = (filename: string) => {
  const db = new Database(filename)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = FULL")
  db.exec(`CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY, document_id TEXT NOT NULL, version INTEGER NOT NULL, event_id TEXT NOT NULL,
    event_type TEXT NOT NULL, schema_version INTEGER NOT NULL, occurred_at INTEGER NOT NULL, actor TEXT NOT NULL,
    correlation_id TEXT NOT NULL, causation_id TEXT NOT NULL, encoding TEXT NOT NULL, payload BLOB NOT NULL,
    UNIQUE (document_id, version))`)
  const insert = db.prepare(
    `INSERT INTO events VALUES (?, ?, ?, ?, 'DocumentUpdated', 1, ?, 'bench', 'c', 'c', 'json', ?)`
  )
  let position = 0
  const row = () => {
    position++
    insert.run(
      position,
      `doc-${position % 64}`,
      position,
      crypto.randomUUID(),
      Date.now(),
      Buffer.from(payload(position))
    )
  }
  return { db, row }
}

const rawInserts = (filename: string, perTransaction: number, rows: number) => {
  const { db, row } = rawDatabase(filename)
  const batch = db.transaction((n: number) => {
    for (let i = 0; i < n; i++) row()
  })
  return {
    once: () => {
      for (let done = 0; done < rows; done += perTransaction) batch(Math.min(perTransaction, rows - done))
      return Promise.resolve(rows)
    },
    close: () => db.close()
  }
}

interface EmmettState {
  readonly version: number
  readonly title: string
  readonly content: string
}
type EmmettEvent =
  | { readonly type: "Created"; readonly data: { readonly title: string; readonly content: string } }
  | { readonly type: "Updated"; readonly data: { readonly content: string } }

const emmettHandle = CommandHandler<EmmettState, EmmettEvent>({
  evolve: (state, event) =>
    event.type === "Created"
      ? { version: 1, title: event.data.title, content: event.data.content }
      : { ...state, version: state.version + 1, content: event.data.content },
  initialState: () => ({ version: 0, title: "", content: "" })
})

/** The same workload on Emmett: commands decided on the state its handler aggregates. */
const emmettWorkload = async (
  store: ReturnType<typeof getInMemoryEventStore>,
  prefix: string,
  documents: number,
  versions: number
) => {
  for (let d = 0; d < documents; d++) {
    const id = `${prefix}-${d}`
    await emmettHandle(store, id, (state) => {
      if (state.version !== 0) throw new Error("exists")
      return { type: "Created", data: { title: `doc ${d}`, content: "v1" } }
    })
    for (let v = 2; v <= versions; v++) {
      await emmettHandle(store, id, (state) => {
        if (state.version === 0) throw new Error("not found")
        return { type: "Updated", data: { content: `version ${v} of a document` } }
      })
    }
  }
  return documents * versions
}

const tempDir = () => mkdtempSync(join(tmpdir(), "nerv-bench-"))

const durableAppend = async (context: BenchContext): Promise<Array<BenchRecord>> => {
  const dir = tempDir()
  try {
    const writers = 64
    const versions = context.quick ? 20 : 100
    const runtime = ManagedRuntime.make(programLayer(sqliteLayer(join(dir, "nerv.db"))))
    const nerv = await throughput(context, async () => {
      await runtime.runPromise(nervWorkload(writers, versions))
      return writers * versions
    })
    await runtime.dispose()

    // The same commands, each update recording its notification; the worker performs them as they
    // come. A run ends when its commands are acknowledged and its effects performed.
    const withOutbox = ManagedRuntime.make(outboxLayer(sqliteLayer(join(dir, "nerv-outbox.db"))))
    const outbox = await throughput(context, async () => {
      await withOutbox.runPromise(Effect.gen(function*() {
        yield* nervWorkload(writers, versions)
        const effects = yield* Outbox.Outbox
        while ((yield* effects.counts({ pendingOnly: true })).some((count) => count.pending > 0)) {
          yield* Effect.sleep("1 millis")
        }
      }))
      return writers * versions
    })
    await withOutbox.dispose()

    const one = rawInserts(join(dir, "raw-1.db"), 1, context.quick ? 100 : 500)
    const raw1 = await throughput(context, one.once)
    one.close()
    // 64 writers that each wait for their acknowledgement make groups of at most 64: the raw
    // insert at that group size is the ceiling a group commit can reach with 64 writers.
    const group = rawInserts(join(dir, "raw-64.db"), writers, writers * versions)
    const raw64 = await throughput(context, group.once)
    group.close()
    const thousand = rawInserts(join(dir, "raw-1000.db"), 1_000, context.quick ? 20_000 : 100_000)
    const raw1000 = await throughput(context, thousand.once)
    thousand.close()
    return [
      summarize("durable append", "nerv-durable", "events/s", nerv),
      summarize("durable append", "nerv-durable-outbox", "events/s", outbox),
      summarize("durable append", "sqlite-raw-1", "events/s", raw1),
      summarize("durable append", "sqlite-raw-64", "events/s", raw64),
      summarize("durable append", "sqlite-raw-1000", "events/s", raw1000)
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const memoryCommands = async (context: BenchContext): Promise<Array<BenchRecord>> => {
  const documents = context.quick ? 50 : 200
  const versions = 20
  const runtime = ManagedRuntime.make(programLayer(memoryLayer))
  const nerv = await throughput(context, async () => {
    await runtime.runPromise(nervWorkload(1, versions).pipe(Effect.repeatN(documents - 1)))
    return documents * versions
  })
  await runtime.dispose()
  const store = getInMemoryEventStore()
  let run = 0
  const emmett = await throughput(context, () => emmettWorkload(store, `run${run++}`, documents, versions))
  return [
    summarize("memory commands", "nerv-memory", "events/s", nerv),
    summarize("memory commands", "emmett-memory", "events/s", emmett)
  ]
}

/**
 * One document that already has `depth` versions, then `commands` more updates per run. Both
 * systems get the history in bulk first (NERV through its journal and store, Emmett through
 * `appendToStream`), so that only the commands at depth are measured.
 */
const memoryOneDocument = async (context: BenchContext): Promise<Array<BenchRecord>> => {
  const depth = context.quick ? 10_000 : 100_000
  // Emmett's command costs O(depth) here (tens of ms at 100k): fewer commands and runs measure it.
  const commands = 100
  const heavy = { ...context, runs: Math.min(context.runs, 3), warmup: Math.min(context.warmup, 1) }

  const runtime = ManagedRuntime.make(programLayer(memoryLayer))
  const id = await runtime.runPromise(Effect.gen(function*() {
    const id = yield* Documents.create({ title: "deep", content: "v1" }).pipe(Access.as("ann"))
    const journal = yield* Journal.Journal
    const store = yield* DocumentStore.DocumentStore
    const now = yield* DateTime.now
    for (let from = 2; from <= depth; from += 1_000) {
      const events = Array.from(
        { length: Math.min(1_000, depth - from + 1) },
        (_, i) =>
          new DocumentEvent.DocumentUpdated({
            eventId: crypto.randomUUID(),
            documentId: id,
            version: from + i,
            occurredAt: now,
            actor: "bench",
            correlationId: "c",
            causationId: "c",
            content: payload(from + i)
          })
      )
      yield* journal.append(events, from - 1)
      yield* store.apply(events)
    }
    return id
  }))
  const nerv = await throughput(heavy, async () => {
    await runtime.runPromise(Effect.gen(function*() {
      for (let i = 0; i < commands; i++) {
        yield* Documents.update(id, { content: `command ${i}` }).pipe(Access.as("bench"))
      }
    }))
    return commands
  })
  await runtime.dispose()

  const store = getInMemoryEventStore()
  await store.appendToStream("deep", [
    { type: "Created", data: { title: "deep", content: "v1" } },
    ...Array.from({ length: depth - 1 }, (_, i) => ({ type: "Updated", data: { content: payload(i + 2) } }))
  ])
  const emmett = await throughput(heavy, async () => {
    for (let i = 0; i < commands; i++) {
      await emmettHandle(store, "deep", () => ({ type: "Updated", data: { content: `command ${i}` } }))
    }
    return commands
  })
  return [
    summarize("memory commands one document", "nerv-memory", "events/s", nerv),
    summarize("memory commands one document", "emmett-memory", "events/s", emmett)
  ]
}

/**
 * Fills a journal database with `documents` × `perDocument` events. NERV creates the schema (its
 * migrations); the rows are then inserted in bulk, in exactly the form NERV's journal writes them
 * (plain JSON payloads of the event's own fields, schema version 1), because the setup is not what
 * is measured and a million appends through the journal would take longer than the measurement.
 * The first NERV rebuild checks every row against the event schemas, so a wrong row would fail it.
 */
const fillJournal = async (filename: string, documents: number, perDocument: number) => {
  await Effect.runPromise(
    Effect.provide(Effect.void, SqliteJournal.layer()).pipe(
      Effect.provide(Layer.merge(SqliteJournal.layerClient({ filename }), PayloadCodec.layerJson))
    )
  )
  const db = new Database(filename)
  db.pragma("journal_mode = WAL")
  const event = db.prepare(`INSERT INTO nerv_events (position, document_id, version, event_id, event_type,
    schema_version, occurred_at, actor, correlation_id, causation_id, encoding, payload)
    VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, 'json', ?)`)
  // The index of documents as the appends keep it.
  const document = db.prepare(
    "INSERT INTO nerv_documents (seq, document_id, author, version, deleted) VALUES (?, ?, ?, ?, 0)"
  )
  // Each event a millisecond after the one before, and its own command id: a journal written over
  // time, so that nothing a reader might share between rows (a time, an id) is shared here.
  const start = Date.now() - documents * perDocument
  let position = 0
  const fill = db.transaction((from: number, to: number) => {
    for (let d = from; d <= to; d++) {
      const id = `00000000-0000-4000-8000-${d.toString(16).padStart(12, "0")}`
      for (let v = 1; v <= perDocument; v++) {
        position++
        if (v === 1) document.run(position, id, `author${d % 8}`, perDocument)
        const body = v === 1 ? { title: `doc ${d}`, content: "v1" } : { content: `version ${v} of a document` }
        const command = crypto.randomUUID()
        event.run(
          position,
          id,
          v,
          crypto.randomUUID(),
          v === 1 ? "DocumentCreated" : "DocumentUpdated",
          start + position,
          `author${d % 8}`,
          command,
          command,
          Buffer.from(JSON.stringify(body))
        )
      }
    }
  })
  const perTransaction = Math.max(1, Math.floor(100_000 / perDocument))
  for (let d = 1; d <= documents; d += perTransaction) fill(d, Math.min(documents, d + perTransaction - 1))
  db.close()
}

const rebuild = async (context: BenchContext): Promise<Array<BenchRecord>> => {
  const dir = tempDir()
  try {
    const filename = join(dir, "rebuild.db")
    const events = context.quick ? 50_000 : 1_000_000
    await fillJournal(filename, events / 100, 100)
    // A million events per run: fewer runs than the other figures, to keep the suite within minutes.
    const heavy = { ...context, runs: Math.min(context.runs, 3), warmup: Math.min(context.warmup, 1) }
    const nerv = await throughput(heavy, () =>
      Effect.runPromise(
        Effect.gen(function*() {
          const store = yield* VersionedStore.make
          yield* Rebuild.replay(store, yield* Journal.Journal)
          return yield* Effect.flatMap(Journal.Journal, (journal) => journal.head)
        }).pipe(
          Effect.provide(SqliteJournal.layer()),
          Effect.provide(Layer.merge(SqliteJournal.layerClient({ filename }), PayloadCodec.layerJson)),
          Effect.scoped
        )
      ))
    const raw = await throughput(heavy, () => {
      const db = new Database(filename, { readonly: true })
      let rows = 0
      let bytes = 0
      for (const row of db.prepare("SELECT * FROM nerv_events ORDER BY position").iterate() as Iterable<any>) {
        const value = JSON.parse((row.payload as Buffer).toString("utf8"))
        bytes += (value.content ?? value.title ?? "").length
        rows++
      }
      db.close()
      return Promise.resolve(bytes >= 0 ? rows : 0)
    })
    return [
      summarize("rebuild 1M", "nerv-rebuild", "events/s", nerv),
      summarize("rebuild 1M", "sqlite-raw-read", "events/s", raw)
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Seconds to open a database and answer one `get`: with 1M documents of one version each (`nerv`),
 * and with one document of 1M versions (`nerv-1-doc-1M-versions`, snapshotted); opening reads no
 * document, so both should cost what an empty database costs. For reference, the explicit full
 * rebuild of the 1M documents (`nerv-rebuild-all`: every document read and checked).
 */
const open = async (context: BenchContext): Promise<Array<BenchRecord>> => {
  const dir = tempDir()
  try {
    const n = context.quick ? 20_000 : 1_000_000
    const runs = Math.min(context.runs, 3)
    const get = (filename: string, id: Document.DocumentId) =>
      Effect.runPromise(
        Effect.flatMap(DocumentStore.DocumentStore, (store) => store.get(id)).pipe(
          Effect.provide(sqliteStore(filename)),
          Effect.scoped
        )
      )
    const timed = async (once: () => Promise<unknown>) => {
      const samples: Array<number> = []
      for (let i = 0; i < 1 + runs; i++) {
        const start = process.hrtime.bigint()
        await once()
        if (i >= 1) samples.push(Number(process.hrtime.bigint() - start) / 1e9)
      }
      return samples
    }
    const idOf = (d: number) => Document.DocumentId.make(`00000000-0000-4000-8000-${d.toString(16).padStart(12, "0")}`)

    const manyShort = join(dir, "many-short.db")
    await fillJournal(manyShort, n, 1)
    // A document from the middle of the journal, as a user would ask for any of them.
    const many = await timed(() => get(manyShort, idOf(Math.floor(n / 2))))
    const rebuildAll = await timed(() =>
      Effect.runPromise(
        Rebuild.run().pipe(
          Effect.provide(SqliteJournal.layer()),
          Effect.provide(Layer.merge(SqliteJournal.layerClient({ filename: manyShort }), PayloadCodec.layerJson)),
          Effect.provide(Snapshots.layerPolicy(1_000)),
          Effect.scoped
        )
      )
    )

    const oneLong = join(dir, "one-long.db")
    await fillJournal(oneLong, 1, n)
    // The explicit rebuild takes the long history's snapshot once; opening reads from it.
    await Effect.runPromise(
      Rebuild.run().pipe(
        Effect.provide(SqliteJournal.layer()),
        Effect.provide(Layer.merge(SqliteJournal.layerClient({ filename: oneLong }), PayloadCodec.layerJson)),
        Effect.provide(Snapshots.layerPolicy(1_000)),
        Effect.scoped
      )
    )
    const long = await timed(() => get(oneLong, idOf(1)))
    return [
      summarize("open 1M documents", "nerv", "seconds", many),
      summarize("open 1M documents", "nerv-1-doc-1M-versions", "seconds", long),
      summarize("open 1M documents", "nerv-rebuild-all", "seconds", rebuildAll)
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The durable store's suite.
 *
 * @since 0.1.0
 */
export const durable: Suite = {
  name: "durable",
  run: async (context) => {
    const records: Array<BenchRecord> = []
    for (
      const [name, workload] of [
        ["durable append", durableAppend],
        ["durable append postgres", durableAppendPostgres],
        ["memory commands", memoryCommands],
        ["memory commands one document", memoryOneDocument],
        ["rebuild", rebuild],
        ["open 1M documents", open]
      ] as const
    ) {
      const start = Date.now()
      records.push(...(await workload(context)))
      console.log(`  ${name}: measured in ${((Date.now() - start) / 1000).toFixed(1)} s`)
    }
    return records
  }
}

/**
 * The durable store's targets, checked against one run's records.
 *
 * @since 0.1.0
 */
export const targets = (records: ReadonlyArray<BenchRecord>): Array<{
  readonly target: string
  readonly measured: string
  readonly met: boolean
}> => {
  const median = (workload: string, system: string) =>
    records.find((r) => r.workload === workload && r.system === system && r.metric === "events/s")?.median
  const ratio = (workload: string, system: string, peer: string, at: number) => {
    const [a, b] = [median(workload, system), median(workload, peer)]
    return a === undefined || b === undefined ? [] : [{
      target: `${system} ≥ ${at}× ${peer} (${workload})`,
      measured: `${(a / b).toFixed(2)}×`,
      met: a / b >= at
    }]
  }
  return [
    ...ratio("durable append", "nerv-durable", "sqlite-raw-1000", 0.5),
    ...ratio("durable append", "nerv-durable", "sqlite-raw-1", 8),
    ...ratio("durable append", "nerv-durable-outbox", "nerv-durable", 0.8),
    ...ratio("durable append postgres", "nerv-postgres", "pg-raw-64", 0.5),
    ...ratio("durable append postgres", "nerv-postgres", "emmett-postgres", 10),
    ...ratio("memory commands", "nerv-memory", "emmett-memory", 3),
    ...ratio("rebuild 1M", "nerv-rebuild", "sqlite-raw-read", 0.6)
  ]
}
