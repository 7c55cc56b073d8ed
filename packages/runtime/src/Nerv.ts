/**
 * The ready-made layers: everything NERV's programs need, wired together.
 *
 * @since 0.1.0
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { type DocumentStore, EventBus as Port, type IdGenerator, Journal, Notifier as NotifierPort } from "@nerv/core"
import type { NervEvent } from "@nerv/core"
import { Errors } from "@nerv/core"
import { MemoryJournal, PayloadCodec, type Projection, Snapshots, SqliteJournal, VersionedStore } from "@nerv/store"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as EventBus from "./EventBus.js"
import * as Ids from "./Ids.js"
import * as Notifier from "./Notifier.js"
import * as Recorder from "./Recorder.js"

/**
 * The services every document program needs.
 *
 * @since 0.1.0
 */
export type Services =
  | Journal.Journal
  | DocumentStore.DocumentStore
  | Port.EventBus
  | NotifierPort.Notifier
  | IdGenerator.IdGenerator

/**
 * Everything in memory, with random ids, real time and console notifications: for trying NERV out
 * and for programs whose documents need not outlive the process.
 *
 * @since 0.1.0
 */
export const layerMemory = (options?: { readonly bus?: EventBus.Options }): Layer.Layer<Services> =>
  Layer.mergeAll(
    VersionedStore.layerFromJournal.pipe(Layer.provideMerge(MemoryJournal.layer), Layer.orDie),
    EventBus.layer(options?.bus),
    Notifier.layerConsole,
    Ids.layerRandom
  )

/**
 * The test layer: in-memory journal and store, a bus, sequential ids, and a `Recorder` that keeps
 * every side effect in order (journal appends, published events, notifications, log lines; logs
 * are recorded instead of printed). Time is Effect's `Clock`, so under `it.effect` it is the
 * `TestClock`. Each build is fresh and isolated.
 *
 * @since 0.1.0
 */
export const layerTest: Layer.Layer<Services | Recorder.Recorder> = Layer.mergeAll(
  VersionedStore.layerFromJournal.pipe(
    Layer.provideMerge(Layer.effect(
      Journal.Journal,
      Effect.zipWith(MemoryJournal.make, Recorder.Recorder, Recorder.recordingJournal)
    )),
    Layer.orDie
  ),
  Layer.scoped(
    Port.EventBus,
    Effect.flatMap(
      Effect.zip(EventBus.make<NervEvent.NervEvent>(), Recorder.Recorder),
      ([bus, recorder]) => Recorder.recordingBus(bus, recorder)
    )
  ),
  Layer.effect(NotifierPort.Notifier, Effect.map(Recorder.Recorder, Recorder.recordingNotifier)),
  Ids.layerSequential
).pipe(Layer.provideMerge(Recorder.layer))

/**
 * @since 0.1.0
 */
export interface SqliteOptions {
  /** The database file. Default: `NERV_DATABASE`, else `.nerv/nerv.db` under the working directory. */
  readonly filename?: string | undefined
  /** `"FULL"` (default): an acknowledged command survives power loss. See `SqliteJournal.Durability`. */
  readonly durability?: SqliteJournal.Durability | undefined
  /** Take a snapshot of a document every this many versions (default 1000). */
  readonly snapshotEvery?: number | undefined
  /** Gzip payloads from this many bytes on (default: no compression). */
  readonly compressFrom?: number | undefined
  /** How payloads are stored; overrides `compressFrom` (a sealing codec goes here). */
  readonly codec?: Layer.Layer<PayloadCodec.PayloadCodec> | undefined
  /** Hears how far the rebuild on start has come. */
  readonly onProgress?: ((progress: VersionedStore.Progress) => Effect.Effect<void>) | undefined
  readonly bus?: EventBus.Options | undefined
}

/**
 * The database file `layerSqlite` uses: `NERV_DATABASE`, else `.nerv/nerv.db`, resolved against the
 * working directory.
 *
 * @since 0.1.0
 */
export const databaseFile: Config.Config<string> = Config.string("NERV_DATABASE").pipe(
  Config.withDefault(".nerv/nerv.db"),
  Config.map((file) => Path.resolve(file))
)

/**
 * Everything durable, in one SQLite file: the journal (group commit, `synchronous=FULL` by default),
 * snapshots and projection checkpoints; the store rebuilt from it on start; a bus, random ids and
 * console notifications. What the demo and the CLI use by default.
 *
 * @since 0.1.0
 */
export const layerSqlite = (
  options?: SqliteOptions
): Layer.Layer<Services | Projection.Checkpoints, Errors.JournalError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const filename = options?.filename ?? (yield* databaseFile)
    yield* Effect.try({
      try: () => Fs.mkdirSync(Path.dirname(filename), { recursive: true }),
      catch: (cause) => new Errors.JournalError({ reason: `could not create the folder of ${filename}`, cause })
    })
    const codec = options?.codec ??
      (options?.compressFrom === undefined
        ? PayloadCodec.layerJson
        : PayloadCodec.layerCompressed({ minBytes: options.compressFrom }))
    const journal = SqliteJournal.layer({ durability: options?.durability }).pipe(
      Layer.provide(Layer.merge(SqliteClient.layer({ filename }), codec))
    )
    const store = VersionedStore.layerFromJournal.pipe(
      Layer.provideMerge(journal),
      Layer.provide(Snapshots.layerPolicy(options?.snapshotEvery ?? 1_000)),
      Layer.provide(
        options?.onProgress === undefined
          ? Layer.empty
          : Layer.succeed(VersionedStore.RebuildProgress, { report: options.onProgress })
      )
    )
    return Layer.mergeAll(store, EventBus.layer(options?.bus), Notifier.layerConsole, Ids.layerRandom)
  }))
