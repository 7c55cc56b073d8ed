/**
 * The NERV layers the benchmarks run on, shared by the suites and the processes they start: the
 * durable SQLite store as the `durable append` workload measures it (JSON payloads, group commit,
 * synchronous=FULL) and the programs' other services, silent.
 */
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
import { EventBus, Ids, Performers, PolicyGuard } from "@nerv/runtime"
import { type Checkpoints, PayloadCodec, Snapshots, SqliteJournal, VersionedStore } from "@nerv/store"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"

/** The store over the SQLite journal on a file, with JSON payloads (no sealing, no compression). */
export const sqliteLayer = (
  filename: string,
  snapshotEvery = 1_000
): Layer.Layer<
  DocumentStore.DocumentStore | Journal.Journal | Outbox.Outbox | Snapshots.SnapshotStore | Checkpoints.Checkpoints,
  Errors.JournalError | ConfigError.ConfigError
> =>
  VersionedStore.layerFromJournal.pipe(
    Layer.provideMerge(SqliteJournal.layer()),
    Layer.provide(Layer.merge(SqliteJournal.layerClient({ filename }), PayloadCodec.layerJson)),
    Layer.provide(Snapshots.layerPolicy(snapshotEvery))
  )

/**
 * The programs' services around a store, without log lines (the figures are about the store), and
 * without outbox effects: no rule records any (`nerv-durable-outbox` adds them, see `outboxLayer`).
 * The programs run as `bench` through the guard of the memory layers (every call checked and
 * recorded in an audit trail in memory), so the figures include the guard.
 */
export const programLayer = <A, E>(
  store: Layer.Layer<A, E>
): Layer.Layer<
  | A
  | EventBusPort.EventBus
  | Notifier.Notifier
  | IdGenerator.IdGenerator
  | Outbox.Rules
  | Access.Guard
  | Access.Principal,
  E
> =>
  Layer.mergeAll(
    store,
    EventBus.layer(),
    Layer.succeed(Notifier.Notifier, { notify: () => Effect.void }),
    Layer.succeed(Outbox.Rules, []),
    PolicyGuard.layerAllowAll,
    Access.layerPrincipal("bench"),
    Logger.minimumLogLevel(LogLevel.None)
  ).pipe(Layer.provideMerge(Ids.layerRandom))

/**
 * The programs' services around a store with an outbox: every update records its notification
 * (`Outbox.notifyAuthor`), and a worker performs them with a performer that does nothing.
 */
export const outboxLayer = <A, E>(
  store: Layer.Layer<A | Outbox.Outbox, E>
): Layer.Layer<
  | A
  | Outbox.Outbox
  | EventBusPort.EventBus
  | Notifier.Notifier
  | IdGenerator.IdGenerator
  | Access.Guard
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
    PolicyGuard.layerAllowAll,
    Access.layerPrincipal("bench"),
    Logger.minimumLogLevel(LogLevel.None)
  ).pipe(Layer.provideMerge(Ids.layerRandom), Layer.provideMerge(store))

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
