/**
 * The ready-made layers: everything NERV's programs need, wired together.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import {
  Access,
  type DocumentStore,
  EventBus as Port,
  type IdGenerator,
  Journal,
  Notifier as NotifierPort,
  Outbox
} from "@nerv/core"
import type { NervEvent } from "@nerv/core"
import { Errors } from "@nerv/core"
import {
  Checkpoints,
  Forgetting,
  MemoryJournal,
  PayloadCodec,
  PostgresJournal,
  Retention,
  SagaStore,
  Snapshots,
  SqliteJournal,
  VersionedStore
} from "@nerv/store"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Path from "node:path"
import * as DatabaseFile from "./DatabaseFile.js"
import * as EventBus from "./EventBus.js"
import * as Ids from "./Ids.js"
import * as Notifier from "./Notifier.js"
import type * as OpenTelemetry from "./OpenTelemetry.js"
import * as Performers from "./Performers.js"
import * as Recorder from "./Recorder.js"
import * as AuditTrail from "./security/AuditTrail.js"
import type * as DataKeys from "./security/DataKeys.js"
import * as Keyring from "./security/Keyring.js"
import * as KeyStore from "./security/KeyStore.js"
import * as PolicyGuard from "./security/PolicyGuard.js"
import * as Rbac from "./security/Rbac.js"
import * as SealedPayloads from "./security/SealedPayloads.js"

/**
 * The services every document program needs, but the principal (who is asking), which the memory
 * and test layers give once for all and a durable host gives per request (`Access.as`).
 *
 * @since 0.1.0
 */
export type Services =
  | Journal.Journal
  | DocumentStore.DocumentStore
  | Port.EventBus
  | NotifierPort.Notifier
  | IdGenerator.IdGenerator
  | Access.Guard

/**
 * What the memory and test layers give besides `Services`: a principal, and the audit trail (in
 * memory) where the guard records every call.
 *
 * @since 0.1.0
 */
export type Recorded = Access.Principal | AuditTrail.AuditTrail

/**
 * The outbox and its performers: the effects the commands record (see `Outbox`), and the registry
 * a host adds its performers to (`Performers.register`).
 *
 * @since 0.1.0
 */
export type OutboxServices = Outbox.Outbox | Performers.Performers

/**
 * The performers' registry with the notification performer on the `Notifier` in context, and the
 * worker that performs what the commands record.
 */
const performing = (options?: Performers.Options) =>
  Layer.provideMerge(
    Layer.merge(Performers.layerWorker(), Performers.layerNotify),
    Performers.layer(options)
  )

/**
 * Everything in memory, with random ids, real time and console notifications (performed from the
 * outbox by a worker): for trying NERV out and for programs whose documents need not outlive the
 * process. The programs run as `principal` (default `local`; `Access.as` changes it for one
 * program), through the guard with a policy that lets every named principal do everything, and
 * every call is recorded in an audit trail in memory.
 *
 * @since 0.1.0
 */
export const layerMemory = (
  options?: {
    readonly bus?: EventBus.Options
    readonly performers?: Performers.Options | undefined
    readonly principal?: string | undefined
  }
): Layer.Layer<Services | OutboxServices | Recorded> =>
  Layer.mergeAll(
    performing(options?.performers).pipe(Layer.provide(Notifier.layerConsole)),
    Notifier.layerConsole,
    EventBus.layer(options?.bus),
    PolicyGuard.layerAllowAll.pipe(Layer.provideMerge(Ids.layerRandom)),
    Access.layerPrincipal(options?.principal ?? "local")
  ).pipe(
    Layer.provideMerge(
      VersionedStore.layerFromJournal.pipe(
        Layer.provideMerge(MemoryJournal.layerOutbox.pipe(Layer.provideMerge(MemoryJournal.layer))),
        Layer.orDie
      )
    )
  )

/** The test layer around a guard. */
const testLayer = (
  guard: Layer.Layer<Access.Guard | AuditTrail.AuditTrail, never, IdGenerator.IdGenerator>
): Layer.Layer<Services | OutboxServices | Recorded | Recorder.Recorder> =>
  Layer.mergeAll(
    VersionedStore.layerFromJournal.pipe(
      Layer.provideMerge(Layer.effectContext(Effect.gen(function*() {
        const journal = yield* MemoryJournal.make
        const recorder = yield* Recorder.Recorder
        return Context.make(Journal.Journal, Recorder.recordingJournal(journal, recorder)).pipe(
          Context.add(Outbox.Outbox, yield* MemoryJournal.outbox(journal))
        )
      }))),
      Layer.orDie
    ),
    Layer.provideMerge(
      Performers.layerNotify,
      Layer.effect(
        Performers.Performers,
        Effect.flatMap(
          Recorder.Recorder,
          (recorder) => Performers.make({ onPerformed: Recorder.recordPerformed(recorder) })
        )
      )
    ).pipe(
      Layer.provide(Layer.effect(NotifierPort.Notifier, Effect.map(Recorder.Recorder, Recorder.recordingNotifier)))
    ),
    Layer.scoped(
      Port.EventBus,
      Effect.flatMap(
        Recorder.Recorder,
        (recorder) => EventBus.make<NervEvent.NervEvent>({ onDelivered: Recorder.recordDelivered(recorder) })
      )
    ),
    Layer.effect(NotifierPort.Notifier, Effect.map(Recorder.Recorder, Recorder.recordingNotifier)),
    guard,
    Access.layerPrincipal("test")
  ).pipe(Layer.provideMerge(Ids.layerSequential), Layer.provideMerge(Recorder.layer))

/**
 * The test layer: in-memory journal and store, a bus, sequential ids, and a `Recorder` that keeps
 * every side effect in order (journal appends, effects recorded in the outbox, published events,
 * effects performed, notifications, log lines; logs are recorded instead of printed). Time is
 * Effect's `Clock`, so under `it.effect` it is the `TestClock`. The programs run as the principal
 * `test` (`Access.as` changes it), through the guard with a policy that lets every named principal
 * do everything, recorded in an audit trail in memory. Each build is fresh and isolated.
 *
 * No worker runs: a test performs what is due with `Performers.drain`, so it asserts what a program
 * intends (`EffectRecorded`) apart from what the world saw (`EffectPerformed`, `Notified`).
 *
 * @since 0.1.0
 */
export const layerTest: Layer.Layer<Services | OutboxServices | Recorded | Recorder.Recorder> = testLayer(
  PolicyGuard.layerAllowAll
)

/**
 * The test layer with a guard that checks `policy` (deny by default), for tests of who may do what.
 * An invalid policy is a defect of the test.
 *
 * @since 0.1.0
 */
export const layerTestWithPolicy = (
  policy: Layer.Layer<Rbac.Policy, ConfigError.ConfigError>
): Layer.Layer<Services | OutboxServices | Recorded | Recorder.Recorder> =>
  testLayer(PolicyGuard.layer.pipe(Layer.provideMerge(AuditTrail.layerMemory), Layer.provide(Layer.orDie(policy))))

/**
 * @since 0.1.0
 */
export interface SqliteOptions {
  /** The database file. Default: `NERV_DATABASE`, else `.nerv/nerv.db` under the working directory. */
  readonly filename?: string | undefined
  /**
   * Create the database file (and its folder) if it does not exist: default `true`. With `false`, a
   * missing file fails the layer with a `JournalError` naming it (the CLI's default, so that a
   * mistyped path creates nothing). Either way, a path that is not a NERV database is refused.
   */
  readonly create?: boolean | undefined
  /** `"FULL"` (default): an acknowledged command survives power loss. See `SqliteJournal.Durability`. */
  readonly durability?: SqliteJournal.Durability | undefined
  /** Take a snapshot of a document every this many versions (default 1000). */
  readonly snapshotEvery?: number | undefined
  /** Gzip payloads from this many bytes on (default: no compression). */
  readonly compressFrom?: number | undefined
  /**
   * How payloads are encoded before they are sealed (or, with `NERV_ENCRYPTION=off`, stored as
   * they are); overrides `compressFrom`.
   */
  readonly codec?: Layer.Layer<PayloadCodec.PayloadCodec> | undefined
  /**
   * Where the master key is kept when none is configured (`NERV_MASTER_KEYS`,
   * `NERV_MASTER_KEYS_FILE`): default `master.key` beside the database. See `Keyring.configOrLocalFile`.
   */
  readonly masterKeyFile?: string | undefined
  /** Options of the sealing codec and the data keys (e.g. `allowUnsealed` to read rows written with encryption off). */
  readonly encryption?: (SealedPayloads.Options & DataKeys.Options) | undefined
  /** How much the store holds in memory (default: 10,000 documents, 32 MiB; see `VersionedStore.Budget`). */
  readonly budget?: Partial<VersionedStore.Budget> | undefined
  readonly bus?: EventBus.Options | undefined
  /** How the outbox's effects are performed (retries, claims, polling). See `Performers.Options`. */
  readonly performers?: Performers.Options | undefined
  /** Who notifications go to (default: the console's error stream). */
  readonly notifier?: Layer.Layer<NotifierPort.Notifier> | undefined
  /**
   * The RBAC policy every call is checked against. Default: `Rbac.layerPolicyConfig` (the policy in
   * `NERV_RBAC_POLICY`, else the file `NERV_RBAC_POLICY_FILE` names, else `policy.json` beside the
   * database), with `permissions` declared.
   */
  readonly policy?: Layer.Layer<Rbac.Policy, ConfigError.ConfigError> | undefined
  /** The permissions the host declares for its own programs, beyond NERV's (see `Rbac`). */
  readonly permissions?: ReadonlyArray<string> | undefined
}

/**
 * The policy file `layerSqlite` reads when no policy is configured: `policy.json` beside the database.
 *
 * @since 0.1.0
 */
export const policyFileOf = (database: string): string => Path.join(Path.dirname(database), "policy.json")

/**
 * The database file `layerSqlite` uses: `NERV_DATABASE`, else `.nerv/nerv.db`, resolved against the
 * working directory.
 *
 * @since 0.1.0
 */
export const databaseFile: Config.Config<string> = Config.string("NERV_DATABASE").pipe(
  Config.validate({
    message: "NERV_DATABASE is empty: set it to the path of a database file, or unset it for .nerv/nerv.db",
    validation: (file) => file.trim() !== ""
  }),
  Config.withDefault(".nerv/nerv.db"),
  Config.map((file) => Path.resolve(file))
)

/**
 * What `layerSqlite` provides: the document services (the guard checking the configured policy and
 * writing the audit trail), projection checkpoints, sagas' progress, the data keys (for `forget` and
 * `rewrap`), the audit trail, `Forgetting` (projections drop forgotten documents), and `Retention`
 * (pruning and archiving old versions). Not the principal: the host names it per request (`Access.as`).
 *
 * @since 0.1.0
 */
export type SqliteServices =
  | Services
  | OutboxServices
  | Retention.Retention
  | Checkpoints.Checkpoints
  | SagaStore.SagaStore
  | Forgetting.Forgetting
  | DataKeys.DataKeys
  | AuditTrail.AuditTrail

const hasDataKeys = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tables = yield* sql.unsafe<{ readonly n: number }>(
    "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
    [KeyStore.table]
  )
  if (tables[0]!.n === 0) return false
  const keys = yield* sql.unsafe<{ readonly n: number }>(`SELECT count(*) AS n FROM ${KeyStore.table}`)
  return keys[0]!.n > 0
}).pipe(Effect.mapError((cause) => new Errors.JournalError({ reason: "could not read the data key store", cause })))

/**
 * Everything durable, in one SQLite file: the journal (group commit, `synchronous=FULL` by default),
 * snapshots and projection checkpoints, the wrapped data keys and the audit trail; the store rebuilt
 * from it on start; a bus, random ids and console notifications. What the demo and the CLI use by
 * default.
 *
 * Payloads are sealed (AES-256-GCM, a data key per document) unless `NERV_ENCRYPTION=off`, which
 * logs a warning at start. The master keys come from `NERV_MASTER_KEYS` / `NERV_MASTER_KEYS_FILE`;
 * with neither set, from a key file beside the database, generated on first start (see
 * `Keyring.configOrLocalFile` and docs/security.md).
 *
 * @since 0.1.0
 */
export const layerSqlite = (
  options?: SqliteOptions
): Layer.Layer<
  SqliteServices,
  Errors.JournalError | KeyStore.KeyStoreError | AuditTrail.AuditStoreError | ConfigError.ConfigError
> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const filename = options?.filename ?? (yield* databaseFile)
    const inner = options?.codec ??
      (options?.compressFrom === undefined
        ? PayloadCodec.layerJson
        : PayloadCodec.layerCompressed({ minBytes: options.compressFrom }))
    const keyFile = options?.masterKeyFile ?? Path.join(Path.dirname(filename), "master.key")
    const keyStore = KeyStore.layerSql
    const codec = SealedPayloads.layerConfigWith({
      keyStore,
      keyring: Layer.effect(Keyring.Keyring, Keyring.configOrLocalFile(keyFile, hasDataKeys))
    }, options?.encryption).pipe(Layer.provide(inner))
    const journal = SqliteJournal.layer({ durability: options?.durability }).pipe(Layer.provideMerge(codec))
    const store = VersionedStore.layerFromJournal.pipe(
      Layer.provideMerge(journal),
      Layer.provide(Snapshots.layerPolicy(options?.snapshotEvery ?? 1_000)),
      Layer.provide(options?.budget === undefined ? Layer.empty : VersionedStore.layerBudget(options.budget))
    )
    const policy = options?.policy ??
      Rbac.layerPolicyConfig({ permissions: options?.permissions, defaultFile: policyFileOf(filename) })
    const ids = Ids.layerRandom
    // The guard: the policy, and the audit trail in the same file.
    const audit = PolicyGuard.layer.pipe(
      Layer.provideMerge(AuditTrail.layerSql),
      Layer.provide(Layer.merge(policy, ids))
    )
    // One connection for all of them: the journal, the data keys and the audit trail share the file;
    // one `Forgetting` too: the store tells the key cache and the read models what others forgot.
    const retained = Retention.layerSqlite.pipe(Layer.provideMerge(store))
    const durable = Layer.mergeAll(SagaStore.layerSql.pipe(Layer.provideMerge(retained)), audit).pipe(
      Layer.provide(DatabaseFile.layerClient(filename, { create: options?.create ?? true })),
      Layer.provideMerge(Forgetting.layer)
    )
    return Layer.mergeAll(
      performing(options?.performers).pipe(Layer.provide(options?.notifier ?? Notifier.layerConsole)),
      EventBus.layer(options?.bus),
      options?.notifier ?? Notifier.layerConsole,
      ids
    ).pipe(Layer.provideMerge(durable))
  }))

/**
 * @since 0.1.0
 */
export interface PostgresOptions {
  /** The database, `postgres://user:password@host:port/database`. Default: `NERV_DATABASE_URL`. */
  readonly url?: Redacted.Redacted | string | undefined
  /** Take a snapshot of a document every this many versions (default 1000). */
  readonly snapshotEvery?: number | undefined
  /** Gzip payloads from this many bytes on (default: no compression). */
  readonly compressFrom?: number | undefined
  /** How payloads are encoded before they are sealed; overrides `compressFrom`. */
  readonly codec?: Layer.Layer<PayloadCodec.PayloadCodec> | undefined
  /**
   * Where the master key is kept when none is configured: default `.nerv/master.key` under the
   * working directory. Several nodes must share their master keys: configure them
   * (`NERV_MASTER_KEYS`, `NERV_MASTER_KEYS_FILE`) rather than let each node make its own.
   */
  readonly masterKeyFile?: string | undefined
  readonly encryption?: (SealedPayloads.Options & DataKeys.Options) | undefined
  readonly budget?: Partial<VersionedStore.Budget> | undefined
  readonly bus?: EventBus.Options | undefined
  /** How the outbox's effects are performed (retries, claims, polling). See `Performers.Options`. */
  readonly performers?: Performers.Options | undefined
  /** Who notifications go to (default: the console's error stream). */
  readonly notifier?: Layer.Layer<NotifierPort.Notifier> | undefined
  /** Options of the journal (group size, how long a commit waits for the head row). */
  readonly journal?: PostgresJournal.Options | undefined
  /**
   * The RBAC policy every call is checked against. Default: `Rbac.layerPolicyConfig` (the policy in
   * `NERV_RBAC_POLICY`, else the file `NERV_RBAC_POLICY_FILE` names, else `.nerv/policy.json` under
   * the working directory), with `permissions` declared.
   */
  readonly policy?: Layer.Layer<Rbac.Policy, ConfigError.ConfigError> | undefined
  /** The permissions the host declares for its own programs, beyond NERV's (see `Rbac`). */
  readonly permissions?: ReadonlyArray<string> | undefined
}

/**
 * What `layerPostgres` provides: the document services (the guard checking the configured policy
 * and writing the audit trail), projection checkpoints, sagas' progress, the data keys, the audit
 * trail, `Forgetting` and `Retention` (archives are SQLite files there too). Not the principal.
 *
 * @since 0.1.0
 */
export type PostgresServices =
  | Services
  | OutboxServices
  | Retention.Retention
  | Checkpoints.Checkpoints
  | SagaStore.SagaStore
  | Forgetting.Forgetting
  | DataKeys.DataKeys
  | AuditTrail.AuditTrail

/**
 * The PostgreSQL database `layerPostgres` uses by default: `NERV_DATABASE_URL`.
 *
 * @since 0.1.0
 */
export const databaseUrl: Config.Config<Redacted.Redacted> = Config.redacted("NERV_DATABASE_URL")

/**
 * Whether a database named on the command line (or in configuration) is a PostgreSQL URL rather
 * than a SQLite file.
 *
 * @since 0.1.0
 */
export const isPostgresUrl = (database: string): boolean => /^postgres(ql)?:\/\//i.test(database.trim())

const hasDataKeysPg = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const keys = yield* sql.unsafe<{ readonly n: number }>(
    `SELECT count(*)::int AS n FROM ${KeyStore.table} WHERE wrapped IS NOT NULL OR forgotten_at IS NOT NULL`
  )
  return keys[0]!.n > 0
}).pipe(Effect.mapError((cause) => new Errors.JournalError({ reason: "could not read the data key store", cause })))

/**
 * Everything durable in a PostgreSQL database that several nodes share: the journal (group commit,
 * positions gap-free and in commit order, notifications that wake every node's store), snapshots
 * and projection checkpoints, the wrapped data keys and the audit trail, the outbox (claimed by
 * every node's worker), retention (archives in SQLite files); a bus, random ids and console
 * notifications. Payloads are sealed as under `layerSqlite`.
 *
 * @since 0.1.0
 */
export const layerPostgres = (
  options?: PostgresOptions
): Layer.Layer<
  PostgresServices,
  Errors.JournalError | KeyStore.KeyStoreError | AuditTrail.AuditStoreError | ConfigError.ConfigError
> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const url = options?.url === undefined
      ? yield* databaseUrl
      : Redacted.isRedacted(options.url)
      ? options.url
      : Redacted.make(options.url)
    const inner = options?.codec ??
      (options?.compressFrom === undefined
        ? PayloadCodec.layerJson
        : PayloadCodec.layerCompressed({ minBytes: options.compressFrom }))
    const keyFile = options?.masterKeyFile ?? Path.resolve(".nerv", "master.key")
    const keyStore = KeyStore.layerSql
    const codec = SealedPayloads.layerConfigWith({
      keyStore,
      keyring: Layer.effect(
        Keyring.Keyring,
        Effect.zipRight(PostgresJournal.migrate, Keyring.configOrLocalFile(keyFile, hasDataKeysPg))
      )
    }, options?.encryption).pipe(Layer.provide(inner))
    const journal = PostgresJournal.layer(options?.journal).pipe(Layer.provideMerge(codec))
    const store = VersionedStore.layerFromJournal.pipe(
      Layer.provideMerge(journal),
      Layer.provide(Snapshots.layerPolicy(options?.snapshotEvery ?? 1_000)),
      Layer.provide(options?.budget === undefined ? Layer.empty : VersionedStore.layerBudget(options.budget))
    )
    const policy = options?.policy ??
      Rbac.layerPolicyConfig({
        permissions: options?.permissions,
        defaultFile: policyFileOf(Path.resolve(".nerv", "nerv.db"))
      })
    const ids = Ids.layerRandom
    // The guard: the policy, and the audit trail in the same database.
    const audit = PolicyGuard.layer.pipe(
      Layer.provideMerge(AuditTrail.layerSql),
      Layer.provide(Layer.merge(policy, ids))
    )
    const retained = Retention.layerPostgres.pipe(Layer.provideMerge(store))
    const durable = Layer.mergeAll(SagaStore.layerSql.pipe(Layer.provideMerge(retained)), audit).pipe(
      Layer.provide(PostgresJournal.layerClient({ url })),
      Layer.provideMerge(Forgetting.layer)
    )
    return Layer.mergeAll(
      performing(options?.performers).pipe(Layer.provide(options?.notifier ?? Notifier.layerConsole)),
      EventBus.layer(options?.bus),
      options?.notifier ?? Notifier.layerConsole,
      ids
    ).pipe(Layer.provideMerge(durable))
  }))

/**
 * A PostgreSQL journal's database as `nerv verify` scans it: its `SqlClient` and the codec its rows
 * need (sealed rows open with the keyring from configuration, else `masterKeyFile`, default
 * `.nerv/master.key`; a key is never generated). The scan changes no row.
 *
 * @since 0.1.0
 */
export const layerPostgresScan = (
  url: string | Redacted.Redacted,
  options?: { readonly masterKeyFile?: string | undefined }
): Layer.Layer<SqlClient.SqlClient | PayloadCodec.PayloadCodec, Errors.JournalError | ConfigError.ConfigError> => {
  const keyFile = options?.masterKeyFile ?? Path.resolve(".nerv", "master.key")
  const codec = SealedPayloads.layerConfigWith({
    keyStore: KeyStore.layerSql.pipe(
      Layer.mapError((cause) => new Errors.JournalError({ reason: "could not open the data key store", cause }))
    ),
    keyring: Layer.effect(Keyring.Keyring, Keyring.configOrLocalFile(keyFile, hasDataKeysPg, { generate: false }))
  }).pipe(Layer.provide(PayloadCodec.layerJson))
  return Layer.provideMerge(
    codec,
    PostgresJournal.layerClient({ url: Redacted.isRedacted(url) ? url : Redacted.make(url) })
  )
}

/**
 * The durable layer the configuration names: `layerPostgres` on `NERV_DATABASE_URL` when it is set,
 * else `layerSqlite` on its file (`NERV_DATABASE`, else `.nerv/nerv.db`), created if `create`.
 *
 * @since 0.1.0
 */
export const layerDatabase = (
  options?: {
    readonly create?: boolean | undefined
    readonly policy?: Layer.Layer<Rbac.Policy, ConfigError.ConfigError> | undefined
    readonly permissions?: ReadonlyArray<string> | undefined
  }
): Layer.Layer<
  PostgresServices,
  Errors.JournalError | KeyStore.KeyStoreError | AuditTrail.AuditStoreError | ConfigError.ConfigError
> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.option(databaseUrl),
      (
        url
      ): Layer.Layer<
        PostgresServices,
        Errors.JournalError | KeyStore.KeyStoreError | AuditTrail.AuditStoreError | ConfigError.ConfigError
      > =>
        url._tag === "Some" && Redacted.value(url.value).trim() !== ""
          ? layerPostgres({ url: url.value, policy: options?.policy, permissions: options?.permissions })
          : layerSqlite({ create: options?.create, policy: options?.policy, permissions: options?.permissions })
    )
  )

/**
 * Exports the spans and metrics of the aspects (`Tracing.withTracing`, `Metrics.withMetrics`, the
 * dispatcher's) to OpenTelemetry; OTLP/HTTP by default. See `OpenTelemetry.layer`.
 *
 * @since 0.1.0
 */
export const layerOtel = (options?: OpenTelemetry.Options): Layer.Layer<never> =>
  // Loaded when used: the SDK would otherwise weigh on every start of the command line.
  Layer.unwrapEffect(Effect.promise(() => import("./OpenTelemetry.js")).pipe(Effect.map((otel) => otel.layer(options))))

/**
 * `layerOtel` configured by the standard `OTEL_*` variables, and nothing when they name no
 * endpoint. See `OpenTelemetry.layerConfig`.
 *
 * @since 0.1.0
 */
export const layerOtelConfig: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.promise(() => import("./OpenTelemetry.js")).pipe(Effect.map((otel) => otel.layerConfig))
)
