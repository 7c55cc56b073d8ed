/**
 * The NERV layers the benchmarks run on, shared by the suites and the processes they start: the
 * durable SQLite store as the `durable append` workload measures it (JSON payloads, group commit,
 * synchronous=FULL, every call checked and audited into the same file, as `Nerv.layerSqlite` does)
 * and the programs' other services, silent.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import {
  Access,
  Documents,
  type DocumentStore,
  type Errors,
  type EventBus as EventBusPort,
  type IdGenerator,
  type Journal,
  Notifier,
  Outbox
} from "@nerv/core"
import { AuditTrail, EventBus, Ids, Performers, PolicyGuard, Rbac } from "@nerv/runtime"
import { type Checkpoints, PayloadCodec, Snapshots, SqliteJournal, VersionedStore } from "@nerv/store"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"

/**
 * The guard of the durable layers: every call checked (every principal allowed) and its two audit
 * records written to the journal's database, as the production layers do.
 */
export const durableGuard: Layer.Layer<
  Access.Guard | AuditTrail.AuditTrail,
  AuditTrail.AuditStoreError,
  SqlClient.SqlClient | IdGenerator.IdGenerator
> = PolicyGuard.layer.pipe(Layer.provideMerge(AuditTrail.layerSql), Layer.provide(Rbac.layerAllowAll))

/** The guard of the memory layers: every call checked and recorded in an audit trail in memory. */
export const memoryGuard = PolicyGuard.layerAllowAll

/** The store over the SQLite journal on a file, with JSON payloads (no sealing, no compression). */
export const sqliteStore = (
  filename: string,
  snapshotEvery = 1_000
): Layer.Layer<
  | DocumentStore.DocumentStore
  | Journal.Journal
  | Outbox.Outbox
  | Snapshots.SnapshotStore
  | Checkpoints.Checkpoints
  | SqlClient.SqlClient,
  Errors.JournalError | ConfigError.ConfigError
> =>
  VersionedStore.layerFromJournal.pipe(
    Layer.provideMerge(SqliteJournal.layer()),
    Layer.provideMerge(Layer.merge(SqliteJournal.layerClient({ filename }), PayloadCodec.layerJson)),
    Layer.provide(Snapshots.layerPolicy(snapshotEvery))
  )

/** `sqliteStore` and its guard, which audits into the same file. */
export const sqliteLayer = (filename: string, snapshotEvery = 1_000) =>
  durableGuard.pipe(Layer.provideMerge(sqliteStore(filename, snapshotEvery)))

/**
 * The programs' services around a store and its guard (`sqliteLayer` audits into its database; a
 * memory store takes `memoryGuard`), without log lines (the figures are about the store), and
 * without outbox effects: no rule records any (`nerv-durable-outbox` adds them, see `outboxLayer`).
 * The programs run as `bench` through the guard, so the figures include it.
 */
export const programLayer = <A, E>(
  store: Layer.Layer<A | Access.Guard, E, IdGenerator.IdGenerator>
): Layer.Layer<
  | A
  | Access.Guard
  | EventBusPort.EventBus
  | Notifier.Notifier
  | IdGenerator.IdGenerator
  | Outbox.Rules
  | Access.Principal,
  E
> =>
  Layer.mergeAll(
    store,
    EventBus.layer(),
    Layer.succeed(Notifier.Notifier, { notify: () => Effect.void }),
    Layer.succeed(Outbox.Rules, []),
    Access.layerPrincipal("bench"),
    Logger.minimumLogLevel(LogLevel.None)
  ).pipe(Layer.provideMerge(Ids.layerRandom))

/**
 * The programs' services around a store with an outbox and its guard: every update records its
 * notification (`Outbox.notifyAuthor`), and a worker performs them with a performer that does nothing.
 */
export const outboxLayer = <A, E>(
  store: Layer.Layer<A | Outbox.Outbox | Access.Guard, E, IdGenerator.IdGenerator>
): Layer.Layer<
  | A
  | Outbox.Outbox
  | Access.Guard
  | EventBusPort.EventBus
  | Notifier.Notifier
  | IdGenerator.IdGenerator
  | Access.Principal,
  E
> =>
  Layer.mergeAll(
    Performers.layerWorker().pipe(
      Layer.provide(
        Performers.layer({ performers: [Performers.performer(Outbox.Notify, () => Effect.void)] })
      )
    ),
    EventBus.layer(),
    Layer.succeed(Notifier.Notifier, { notify: () => Effect.void }),
    Access.layerPrincipal("bench"),
    Logger.minimumLogLevel(LogLevel.None)
  ).pipe(Layer.provideMerge(store), Layer.provideMerge(Ids.layerRandom))

/** `writers` writers at once, each creating a document and updating it until it has `versions`. */
export const nervWorkload = (
  writers: number,
  versions: number
): Effect.Effect<
  void,
  Effect.Effect.Error<ReturnType<typeof Documents.update>>,
  Effect.Effect.Context<ReturnType<typeof Documents.update>>
> =>
  Effect.all(
    Array.from({ length: writers }, (_, w) =>
      Effect.gen(function*() {
        const id = yield* Documents.create({ title: `doc ${w}`, content: "v1" }).pipe(Access.as(`author${w % 8}`))
        for (let v = 2; v <= versions; v++) {
          yield* Documents.update(id, { content: `version ${v} of a document` }).pipe(Access.as("bench"))
        }
      })),
    { concurrency: writers, discard: true }
  )
