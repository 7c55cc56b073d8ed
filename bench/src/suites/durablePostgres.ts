/**
 * NERV's PostgreSQL journal beside what it is built on and beside Emmett's:
 * - `durable append postgres`: NERV commands on the PostgreSQL journal (64 concurrent writers,
 *   group commit) vs raw `pg` inserts of 64 rows per transaction into a table like the journal's
 *   (`pg-raw-64`: one multi-row insert per transaction, the most a group of 64 can carry), vs
 *   Emmett's PostgreSQL event store (`emmett-postgres`, 64 writers through its `CommandHandler`),
 *   all on the same server (127.0.0.1:5432 or `NERV_BENCH_POSTGRES`), each in a schema of its own.
 */
import { CommandHandler, type EventStore } from "@event-driven-io/emmett"
import { getPostgreSQLEventStore } from "@event-driven-io/emmett-postgresql"
import { PayloadCodec, PostgresJournal, Snapshots, VersionedStore } from "@nerv/store"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import pg from "pg"
import { type BenchContext, type BenchRecord, summarize, throughput } from "../harness.js"
import { durableGuard, nervWorkload, programLayer } from "../layers.js"

/** The PostgreSQL server of the benchmarks. */
const server = process.env["NERV_BENCH_POSTGRES"] ?? "postgres://postgres@127.0.0.1:5432/test"

const admin = async (statement: string) => {
  const client = new pg.Client({ connectionString: server })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

/** Runs `f` with the URL of a fresh schema, dropped afterwards. */
const inSchema = async <A>(f: (url: string) => Promise<A>): Promise<A> => {
  const schema = `nerv_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  await admin(`CREATE SCHEMA "${schema}"`)
  try {
    const url = new URL(server)
    url.searchParams.set("options", `-c search_path=${schema}`)
    return await f(url.toString())
  } finally {
    await admin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  }
}

/** The store over the PostgreSQL journal, with JSON payloads (no sealing, no compression). */
const postgresLayer = (url: string) =>
  Layer.merge(
    VersionedStore.layerFromJournal.pipe(
      Layer.provideMerge(PostgresJournal.layer()),
      Layer.provide(Snapshots.layerPolicy(1_000))
    ),
    durableGuard
  ).pipe(
    Layer.provide(Layer.merge(PostgresJournal.layerClient({ url: Redacted.make(url) }), PayloadCodec.layerJson))
  )

/** 64-row transactions of raw inserts into a table like the journal's, with its unique (document, version). */
const rawInserts = async (url: string, rows: number) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query(`CREATE TABLE events (
    position bigint PRIMARY KEY, document_id text NOT NULL, version integer NOT NULL, event_id text NOT NULL,
    event_type text NOT NULL, schema_version integer NOT NULL, occurred_at bigint NOT NULL, actor text NOT NULL,
    correlation_id text NOT NULL, causation_id text NOT NULL, encoding text NOT NULL, payload bytea NOT NULL,
    UNIQUE (document_id, version))`)
  const perTransaction = 64
  const values = Array.from(
    { length: perTransaction },
    (_, i) =>
      `($${i * 5 + 1}, $${i * 5 + 2}, $${i * 5 + 3}, $${i * 5 + 4}, 'DocumentUpdated', 1, $${i * 5 + 5}, ` +
      "'bench', 'c', 'c', 'json', convert_to('{\"content\":\"version of a document\"}', 'UTF8'))"
  ).join(", ")
  const insert = `INSERT INTO events VALUES ${values}`
  let position = 0
  return {
    once: async () => {
      for (let done = 0; done < rows; done += perTransaction) {
        const params: Array<unknown> = []
        for (let i = 0; i < perTransaction; i++) {
          position++
          params.push(position, `doc-${position % 64}`, position, crypto.randomUUID(), Date.now())
        }
        await client.query("BEGIN")
        await client.query({ name: "insert64", text: insert, values: params })
        await client.query("COMMIT")
      }
      return rows
    },
    close: () => client.end()
  }
}

interface EmmettState {
  readonly version: number
  readonly content: string
}
type EmmettEvent =
  | { readonly type: "Created"; readonly data: { readonly title: string; readonly content: string } }
  | { readonly type: "Updated"; readonly data: { readonly content: string } }

const handle = CommandHandler<EmmettState, EmmettEvent>({
  evolve: (state, event) =>
    event.type === "Created"
      ? { version: 1, content: event.data.content }
      : { version: state.version + 1, content: event.data.content },
  initialState: () => ({ version: 0, content: "" })
})

/** NERV's workload on Emmett: `writers` writers at once, each creating a stream and updating it to `versions`. */
const emmettWorkload = async (store: EventStore, prefix: string, writers: number, versions: number) => {
  const writer = async (w: number) => {
    const id = `${prefix}-${w}`
    await handle(store, id, (state) => {
      if (state.version !== 0) throw new Error("exists")
      return { type: "Created", data: { title: `doc ${w}`, content: "v1" } }
    })
    for (let v = 2; v <= versions; v++) {
      await handle(store, id, () => ({ type: "Updated", data: { content: `version ${v} of a document` } }))
    }
  }
  await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)))
  return writers * versions
}

/** Emmett is measured with fewer and shorter runs: its figures are far below NERV's. */
const lighter = (context: BenchContext) => ({
  ...context,
  runs: Math.min(context.runs, 3),
  warmup: Math.min(context.warmup, 1)
})

/**
 * `durable append postgres`: nerv-postgres, pg-raw-64 and emmett-postgres.
 *
 * @since 0.1.0
 */
export const durableAppendPostgres = async (context: BenchContext): Promise<Array<BenchRecord>> => {
  const writers = 64
  const versions = context.quick ? 20 : 100
  const nerv = await inSchema(async (url) => {
    const runtime = ManagedRuntime.make(programLayer(postgresLayer(url)))
    try {
      return await throughput(context, async () => {
        await runtime.runPromise(nervWorkload(writers, versions))
        return writers * versions
      })
    } finally {
      await runtime.dispose()
    }
  })
  const raw = await inSchema(async (url) => {
    const inserts = await rawInserts(url, writers * versions)
    try {
      return await throughput(context, inserts.once)
    } finally {
      await inserts.close()
    }
  })
  const emmett = await inSchema(async (url) => {
    const store = getPostgreSQLEventStore(url, { schema: { autoMigration: "CreateOrUpdate" } })
    let run = 0
    try {
      // Its schema is created by the first call: 64 first calls at once wait for each other on its
      // pool of 10 connections for good.
      await emmettWorkload(store, "schema", 1, 1)
      return await throughput(lighter(context), () => emmettWorkload(store, `run${run++}`, writers, 20))
    } finally {
      await store.close()
    }
  })
  return [
    summarize("durable append postgres", "nerv-postgres", "events/s", nerv),
    summarize("durable append postgres", "pg-raw-64", "events/s", raw),
    summarize("durable append postgres", "emmett-postgres", "events/s", emmett)
  ]
}
