/**
 * The SQLite file the durable layers keep everything in, opened without surprises: a database is
 * created only when asked to, and a path that is not a NERV database (missing, a folder, a text
 * file, random bytes, another program's database, a file it may not read or write) is refused
 * with a `JournalError` that names it, before anything is written. `layerReadOnly` opens one for
 * reading only, with the codec its rows need (for `nerv verify`).
 *
 * @since 0.1.0
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { Errors } from "@nerv/core"
import { PayloadCodec, SqliteJournal } from "@nerv/store"
import * as Cause from "effect/Cause"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Keyring from "./security/Keyring.js"
import * as KeyStore from "./security/KeyStore.js"
import * as SealedPayloads from "./security/SealedPayloads.js"

/**
 * How to open a database file.
 *
 * @since 0.1.0
 */
export interface OpenOptions {
  /** Create the file (and its folder) if it does not exist. Default: refuse a missing file. */
  readonly create?: boolean | undefined
  /** Open it for reading only; nothing is created, migrated or written. */
  readonly readOnly?: boolean | undefined
}

const refuse = (reason: string) => Effect.fail(new Errors.JournalError({ reason }))

const header = "SQLite format 3\u0000"

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error)

/** What is at the path: nothing yet, or a file that may be a SQLite database (anything else is refused). */
const inspect = (filename: string, options: OpenOptions): Effect.Effect<"missing" | "file", Errors.JournalError> =>
  Effect.suspend(() => {
    if (filename.trim() === "") return refuse("the database file name is empty; give the path of a database file")
    let stat: Fs.Stats
    try {
      stat = Fs.statSync(filename)
    } catch (error) {
      switch ((error as { readonly code?: unknown }).code) {
        case "ENOENT":
          return Effect.succeed("missing")
        case "ENOTDIR":
          return refuse(`${filename} is not a valid database path: part of it is a file, not a folder`)
        case "EACCES":
          return refuse(`${filename} cannot be reached: permission denied on one of its folders`)
        default:
          return refuse(`${filename} cannot be looked at: ${messageOf(error)}`)
      }
    }
    if (stat.isDirectory()) return refuse(`${filename} is a folder, not a database file`)
    if (!stat.isFile()) return refuse(`${filename} is not a regular file, so not a database file`)
    try {
      Fs.accessSync(filename, options.readOnly === true ? Fs.constants.R_OK : Fs.constants.R_OK | Fs.constants.W_OK)
    } catch {
      return refuse(
        `${filename} cannot be opened for ${options.readOnly === true ? "reading" : "reading and writing"}: ` +
          "permission denied"
      )
    }
    if (stat.size > 0) {
      const start = Buffer.alloc(header.length)
      try {
        const fd = Fs.openSync(filename, "r")
        try {
          Fs.readSync(fd, start, 0, start.length, 0)
        } finally {
          Fs.closeSync(fd)
        }
      } catch (error) {
        return refuse(`${filename} cannot be read: ${messageOf(error)}`)
      }
      if (start.toString("latin1") !== header) {
        return refuse(`${filename} is not a SQLite database (it does not start like one); check the path`)
      }
    }
    return Effect.succeed("file")
  })

/**
 * Opens a client on the file (for writing, the journal's: its transactions take the write lock up
 * front), turning a failure to open (a defect of the driver) into an error naming the file.
 */
const client = (filename: string, options: { readonly readonly: boolean; readonly disableWAL?: boolean }) =>
  (options.readonly ? SqliteClient.layer({ filename, ...options }) : SqliteJournal.layerClient({ filename })).pipe(
    Layer.catchAllCause((cause) =>
      Layer.fail(
        new Errors.JournalError({ reason: `${filename} could not be opened: ${messageOf(Cause.squash(cause))}` })
      )
    )
  )

/**
 * Looks inside an existing file, on a read-only connection that changes nothing (not even the
 * journal mode): NERV's own database holds its migrations table; an empty one is fine only to
 * create a database in; one with other tables belongs to another program, and NERV writes nothing
 * into it.
 */
const probe = (filename: string, options: OpenOptions) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql.unsafe<{ readonly name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
  ).pipe(
    Effect.provide(client(filename, { readonly: true, disableWAL: true })),
    Effect.catchTag(
      "SqlError",
      (error) => refuse(`${filename} could not be read as a SQLite database: ${messageOf(error.cause)}`)
    ),
    Effect.flatMap((tables) => {
      if (tables.some((table) => table.name === "nerv_migrations")) return Effect.void
      if (tables.length === 0 && options.create === true && options.readOnly !== true) return Effect.void
      if (tables.length === 0) {
        return refuse(`${filename} is an empty SQLite database, not a NERV one; create one with \`nerv init\``)
      }
      return refuse(
        `${filename} is the SQLite database of another program (it has tables, none of them NERV's); ` +
          "NERV writes nothing into it"
      )
    })
  )

/**
 * The SQL client on a NERV database file. A missing file is created (with its folder) only with
 * `create: true`; otherwise, as for anything at the path that is not a NERV database, the layer
 * fails with a `JournalError` naming the file, and nothing is written.
 *
 * @since 0.1.0
 */
export const layerClient = (
  filename: string,
  options?: OpenOptions
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, Errors.JournalError> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const opts = options ?? {}
    const found = yield* inspect(filename, opts)
    if (found === "file") {
      yield* probe(filename, opts)
    } else if (opts.create !== true || opts.readOnly === true) {
      return yield* refuse(
        `there is no database at ${filename}, and nothing was created: create one with \`nerv init\` ` +
          "(from code, `create: true`), or check the path"
      )
    } else {
      yield* Effect.try({
        try: () => Fs.mkdirSync(Path.dirname(filename), { recursive: true }),
        catch: (cause) => new Errors.JournalError({ reason: `could not create the folder of ${filename}`, cause })
      })
    }
    return client(filename, { readonly: opts.readOnly === true })
  }))

const tableExists = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe<{ readonly n: number }>(
      "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
      [table]
    )).pipe(
      Effect.map((rows) => rows[0]!.n > 0),
      Effect.mapError((cause) => new Errors.JournalError({ reason: `could not look for the table ${table}`, cause }))
    )

const hasDataKeys = Effect.flatMap(tableExists(KeyStore.table), (exists) =>
  exists
    ? Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql.unsafe<{ readonly n: number }>(`SELECT count(*) AS n FROM ${KeyStore.table}`)).pipe(
        Effect.map((rows) =>
          rows[0]!.n > 0
        ),
        Effect.mapError((cause) => new Errors.JournalError({ reason: "could not read the data key store", cause }))
      )
    : Effect.succeed(false))

/**
 * A NERV database opened for reading only, with the payload codec its rows are read with, as
 * `Nerv.layerSqlite` configures it (encryption unless `NERV_ENCRYPTION=off`, the master keys from
 * configuration or the local key file, which is never generated here). What a scan such as
 * `JournalVerify.scan` needs; nothing it opens writes to the file.
 *
 * @since 0.1.0
 */
export const layerReadOnly = (
  filename: string,
  options?: {
    /** Where the master key is kept when none is configured: default `master.key` beside the database. */
    readonly masterKeyFile?: string | undefined
    /** The codec under the sealing, as given to `Nerv.layerSqlite` (default JSON, which reads gzip too). */
    readonly codec?: Layer.Layer<PayloadCodec.PayloadCodec> | undefined
  }
): Layer.Layer<SqlClient.SqlClient | PayloadCodec.PayloadCodec, Errors.JournalError | ConfigError.ConfigError> => {
  const keyFile = options?.masterKeyFile ?? Path.join(Path.dirname(filename), "master.key")
  const keyStore = Layer.unwrapEffect(
    Effect.map(tableExists(KeyStore.table), (exists) =>
      exists
        ? KeyStore.layerSql.pipe(
          Layer.mapError((error) =>
            new Errors.JournalError({ reason: `could not open the data key store in ${filename}`, cause: error })
          )
        )
        : KeyStore.layerMemory)
  )
  const codec = SealedPayloads.layerConfigWith({
    keyStore,
    keyring: Layer.effect(Keyring.Keyring, Keyring.configOrLocalFile(keyFile, hasDataKeys, { generate: false }))
  }).pipe(Layer.provide(options?.codec ?? PayloadCodec.layerJson))
  return Layer.provideMerge(codec, layerClient(filename, { readOnly: true }))
}
