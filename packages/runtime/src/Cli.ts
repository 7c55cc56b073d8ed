/**
 * The `nerv` command line: every document program as a subcommand, on whatever layer the host
 * gives it (the binary uses the durable embedded default).
 *
 * ```sh
 * nerv init
 * nerv create --title Plan --content Draft --as ann
 * nerv update <id> --content-file notes.md --as bob --expected-version 1
 * nerv history <id>
 * ```
 *
 * Every command runs as a principal (`--as`, default the system user) through the same guarded
 * programs as code (`Documents.*`, `Admin.*`): checked against the RBAC policy, deny by default,
 * and recorded in the audit trail.
 *
 * Scripts can trust it: stdout carries results only (ids, documents, reports, `--json`), and
 * everything else (warnings, notifications, errors) goes to stderr; text from the database is
 * printed with its control characters escaped; colours appear only on a terminal without
 * `NO_COLOR`; and the exit status says what happened (`ExitCode`).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type * as SqlClient from "@effect/sql/SqlClient"
import { type DocumentEvent, Documents, Errors } from "@nerv/core"
import { Document } from "@nerv/core"
import { JournalVerify, type PayloadCodec, Rebuild, Retention } from "@nerv/store"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Ask from "./cli/Ask.js"
import * as Content from "./cli/Content.js"
import * as Effects from "./cli/Effects.js"
import * as Inspect from "./cli/Inspect.js"
import * as Output from "./cli/Output.js"
import { exitWith, say, sayJson, UsageError } from "./cli/Output.js"
import * as Principal from "./cli/Principal.js"
import * as Trace from "./cli/Trace.js"
import { colorsFor, escapeControl } from "./internal/terminal.js"
import { databaseFile, databaseUrl, isPostgresUrl, policyFileOf, type Services } from "./Nerv.js"
import * as ProgressBar from "./ProgressBar.js"
import * as Admin from "./security/Admin.js"
import type * as AuditTrail from "./security/AuditTrail.js"
import type * as DataKeys from "./security/DataKeys.js"

const id = Args.text({ name: "id" }).pipe(Args.withDescription("the document's id"))
const expectedVersion = Options.integer("expected-version").pipe(
  Options.optional,
  Options.withDescription("refuse the change unless the document is still at this version")
)
const json = Options.boolean("json").pipe(Options.withDescription("print JSON instead of text"))

const encodeDocument = Schema.encodeSync(Document.Document)
const printDocument = (document: Document.Document) => sayJson(encodeDocument(document))

const summary = (event: DocumentEvent.DocumentEvent): string => {
  switch (event._tag) {
    case "DocumentCreated":
      return `created "${event.title}"`
    case "DocumentUpdated":
      return [
        event.title !== undefined ? `title → "${event.title}"` : undefined,
        event.content !== undefined ? `content changed (${event.content.length} characters)` : undefined
      ].filter((s) => s !== undefined).join(", ")
    case "DocumentDeleted":
      return `deleted: ${event.reason}`
  }
}

const optionalField = <K extends string, A>(key: K, value: Option.Option<A>) =>
  Option.match(value, { onNone: () => ({}), onSome: (v) => ({ [key]: v }) as { readonly [P in K]: A } })

const create = Command.make("create", {
  title: Options.text("title"),
  ...Content.options,
  ...Principal.option
}, (input) =>
  Effect.gen(function*() {
    const content = Option.getOrElse(yield* Content.contentOf(input), () => "")
    yield* say(yield* Documents.create({ title: input.title, content }).pipe(Principal.runAs(input)))
  })).pipe(
    Command.withDescription("create a document, authored by the principal, and print its id (needs documents:write)")
  )

const update = Command.make(
  "update",
  {
    id,
    title: Options.text("title").pipe(Options.optional),
    ...Content.options,
    expectedVersion,
    ...Principal.option
  },
  (input) =>
    Effect.gen(function*() {
      const content = yield* Content.contentOf(input)
      const document = yield* Documents.update(
        input.id,
        { ...optionalField("title", input.title), ...optionalField("content", content) },
        optionalField("expectedVersion", input.expectedVersion)
      ).pipe(Principal.runAs(input))
      yield* say(`${document.id} is at version ${document.version}`)
    })
).pipe(
  Command.withDescription("change a document's title and/or content, as the principal (needs documents:write)")
)

const remove = Command.make("delete", {
  id,
  reason: Options.text("reason"),
  expectedVersion,
  ...Principal.option
}, (input) =>
  Documents.remove(input.id, {
    reason: input.reason,
    ...optionalField("expectedVersion", input.expectedVersion)
  }).pipe(Principal.runAs(input), Effect.flatMap((d) => say(`${d.id} deleted at version ${d.version}`)))).pipe(
    Command.withDescription("delete a document, as the principal; its history stays readable (needs documents:delete)")
  )

const get = Command.make(
  "get",
  { id, ...Principal.option },
  (input) => Effect.flatMap(Documents.get(input.id).pipe(Principal.runAs(input)), printDocument)
).pipe(Command.withDescription("print a document's latest state as JSON (needs documents:read)"))

const at = Command.make(
  "at",
  { id, version: Args.integer({ name: "version" }), ...Principal.option },
  (input) => Effect.flatMap(Documents.at(input.id, input.version).pipe(Principal.runAs(input)), printDocument)
).pipe(Command.withDescription("print a document as it was at one version (needs documents:read)"))

const list = Command.make("list", { json, ...Principal.option }, (input) =>
  Effect.gen(function*() {
    const documents = yield* Documents.list().pipe(Principal.runAs(input))
    if (input.json) return yield* sayJson(documents.map((d) => encodeDocument(d)))
    if (documents.length === 0) return yield* say("no documents")
    for (const d of documents) yield* say(`${d.id}  v${d.version}  ${d.title}  (by ${d.author})`)
  })).pipe(Command.withDescription("list the documents that are not deleted (needs documents:read)"))

const history = Command.make("history", { id, json, ...Principal.option }, (input) =>
  Effect.gen(function*() {
    const versions = yield* Documents.history(input.id).pipe(
      Effect.catchTag("DocumentForgotten", (forgotten) =>
        // A forgotten document's history keeps its shape: versions, times and actors, no content.
        Documents.shape(forgotten.documentId).pipe(Effect.map((shape) => ({ forgotten: shape })))),
      Principal.runAs(input)
    )
    if ("forgotten" in versions) {
      if (input.json) {
        return yield* sayJson(
          versions.forgotten.map((v) => ({ ...v, occurredAt: DateTime.formatIso(v.occurredAt), content: null }))
        )
      }
      for (const v of versions.forgotten) {
        yield* say(
          `v${v.version}  ${DateTime.formatIso(v.occurredAt)}  ${v.actor.padEnd(12)} ${v.event} (content forgotten)`
        )
      }
      return
    }
    if (input.json) {
      const encode = Schema.encodeSync(Schema.Struct({ version: Schema.Number, document: Document.Document }))
      return yield* sayJson(versions.map((v) => encode(v)))
    }
    for (const { event, version } of versions) {
      yield* say(`v${version}  ${DateTime.formatIso(event.occurredAt)}  ${event.actor.padEnd(12)} ${summary(event)}`)
    }
  })).pipe(Command.withDescription("print every version: when, who, what (needs documents:read)"))

const forget = Command.make("forget", { id, ...Principal.option }, (input) =>
  Admin.forget(input.id).pipe(
    Principal.runAs(input),
    Effect.zipRight(say(`${input.id} forgotten: its content is destroyed, its history keeps its shape`))
  )).pipe(Command.withDescription("crypto-shred a document (needs documents:forget)"))

const rewrap = Command.make("rewrap", Principal.option, (input) =>
  Admin.rewrapKeys().pipe(
    Principal.runAs(input),
    Effect.flatMap((report) =>
      Effect.zipRight(
        say(
          `data keys re-wrapped under the active master key: ${report.rewrapped}, already current: ` +
            `${report.alreadyCurrent}, failed: ${report.failed.length}`
        ),
        Effect.forEach(report.failed, (failed) => say(`  ${JSON.stringify(failed)}`), { discard: true }).pipe(
          Effect.zipRight(report.failed.length > 0 ? exitWith(ExitCode.refused) : Effect.void)
        )
      )
    )
  )).pipe(Command.withDescription("re-wrap every data key under the newest master key (needs keys:admin)"))

const auditVerify = Command.make("verify", Principal.option, (input) =>
  Admin.verifyAudit().pipe(
    Principal.runAs(input),
    Effect.flatMap((verification) => {
      if (verification._tag === "Intact") {
        return say(
          `audit trail intact: ${verification.count} records` +
            (verification.head === undefined
              ? ""
              : `, head ${JSON.stringify(verification.head)} (keep it as an anchor)`)
        )
      }
      return Effect.zipRight(
        Console.error(escapeControl(`audit trail BROKEN at record ${verification.sequence}: ${verification.reason}`)),
        exitWith(ExitCode.damaged)
      )
    })
  )).pipe(
    Command.withDescription("walk the audit trail's hash chain and report the first broken link (needs audit:read)")
  )

/**
 * `nerv init` could not write the policy file beside the database.
 *
 * @since 0.1.0
 */
export class PolicyFileUnwritable extends Data.TaggedError("PolicyFileUnwritable")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `could not write the policy file ${this.file}: ${this.reason}`
  }
}

/**
 * The policy a new database starts with when none is configured: the system user who ran `nerv init`
 * is its admin, and the usual roles are there to give others. Written beside the database, readable
 * and writable by its owner only (whoever can write it can grant themselves anything).
 */
const initialPolicy = (file: string) =>
  Effect.gen(function*() {
    const configured = Option.isSome(yield* Config.option(Config.string("NERV_RBAC_POLICY"))) ||
      Option.isSome(yield* Config.option(Config.string("NERV_RBAC_POLICY_FILE")))
    const user = Principal.systemUser()
    if (configured || Fs.existsSync(file) || user.trim() === "") return undefined
    const policy = {
      principals: { [user]: ["admin"] },
      roles: {
        admin: ["*"],
        editor: ["documents:read", "documents:write", "documents:delete"],
        author: ["documents:read", "documents:write:own", "documents:delete:own"],
        reader: ["documents:read"]
      }
    }
    yield* Effect.try({
      try: () => Fs.writeFileSync(file, JSON.stringify(policy, null, 2) + "\n", { mode: 0o600, flag: "wx" }),
      catch: (error) => new PolicyFileUnwritable({ file, reason: (error as Error).message })
    })
    return `created ${file}: ${user} is its admin (edit it to give others roles)`
  })

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`

const prune = Command.make("prune", {
  olderThan: Options.text("older-than").pipe(
    Options.filterMap(
      Duration.decodeUnknown,
      "--older-than takes a duration, such as \"90 days\", \"12 hours\" or \"0 millis\""
    ),
    Options.withDescription(
      "prune each document's versions before its latest snapshot taken of a version older than this"
    )
  ),
  archive: Options.text("archive").pipe(
    Options.optional,
    Options.withDescription("a SQLite file the pruned events are copied into first (created if missing)")
  ),
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("print what would be pruned; change nothing")),
  ...Principal.option
}, (input) =>
  Effect.flatMap(
    Effect.serviceOption(Retention.Retention),
    Option.match({
      onNone: () =>
        Effect.fail(
          new Errors.JournalError({
            reason: "this journal has no retention: pruning needs a SQLite or PostgreSQL journal"
          })
        ),
      onSome: (retention) =>
        Admin.prune(
          { olderThan: input.olderThan, archive: Option.getOrUndefined(input.archive) },
          { dryRun: input.dryRun }
        ).pipe(
          Principal.runAs(input),
          Effect.provideService(Retention.Retention, retention),
          Effect.flatMap((pruned) => {
            const what = `${count(pruned.events, "event")} of ${count(pruned.documents, "document")} and ` +
              count(pruned.snapshots, "snapshot")
            return say(
              input.dryRun
                ? `would prune ${what} (nothing changed)`
                : `pruned ${what}` +
                  Option.match(input.archive, {
                    onNone: () => "",
                    onSome: (file) => `; ${count(pruned.archived, "event")} newly archived in ${file}`
                  })
            )
          })
        )
    })
  )).pipe(
    Command.withDescription("prune (and archive) the versions the retention policy lets go (needs journal:prune)")
  )

const rebuild = Command.make("rebuild", {
  fromScratch: Options.boolean("from-scratch").pipe(
    Options.withDescription("take every snapshot again from the events (after changing an upcaster)")
  ),
  ...Principal.option
}, (input) =>
  Admin.rebuild({ fromScratch: input.fromScratch }).pipe(
    Principal.runAs(input),
    Effect.provideService(Rebuild.RebuildProgress, { report: ProgressBar.make() }),
    Effect.flatMap((summary) =>
      say(
        `rebuilt: ${count(summary.documents, "document")}, ${count(summary.events, "event")} read and checked, ` +
          `${count(summary.snapshotsTaken, "snapshot")} taken` +
          (input.fromScratch ? `, ${count(summary.snapshotsRemoved, "snapshot")} removed first` : "")
      )
    )
  )).pipe(
    Command.withDescription(
      "read and check every document of the journal, and take the snapshots long histories lack (needs journal:rebuild)"
    )
  )

const keys = Command.make("keys").pipe(
  Command.withDescription("master and data key administration"),
  Command.withSubcommands([rewrap])
)

const audit = Command.make("audit").pipe(
  Command.withDescription("the tamper-evident audit trail"),
  Command.withSubcommands([auditVerify])
)

/**
 * What the command line runs on: the document services, plus the audit trail and the data keys
 * for the administrative commands (`Nerv.layerSqlite` provides them all).
 *
 * @since 0.1.0
 */
export type CliServices = Services | AuditTrail.AuditTrail | DataKeys.DataKeys | Effects.Services

/**
 * The databases the command line opens, by file (`--database`, else `NERV_DATABASE`, else
 * `.nerv/nerv.db`, resolved against the working directory).
 *
 * @since 0.1.0
 */
export interface Databases<E> {
  /**
   * The services of the document and administrative commands on a database file. `create` says
   * whether a missing file may be created: only under `nerv init` or `--create`; otherwise a
   * missing file must be refused, so that a mistyped path creates nothing.
   */
  readonly open: (file: string, options: { readonly create: boolean }) => Layer.Layer<CliServices, E>
  /** The database opened to be scanned, with its payload codec, for `nerv verify` (absent: refused). */
  readonly readOnly?:
    | ((file: string) => Layer.Layer<SqlClient.SqlClient | PayloadCodec.PayloadCodec, E>)
    | undefined
}

/** The database file a command line names, resolved; an empty name is refused, never taken as SQLite's temporary database. */
const fileOf = (database: Option.Option<string>): Effect.Effect<string, UsageError | ConfigError.ConfigError> =>
  Option.match(database, {
    onNone: () =>
      Effect.flatMap(
        Config.option(databaseUrl),
        (url) =>
          url._tag === "Some" && Redacted.value(url.value).trim() !== ""
            ? Effect.succeed(Redacted.value(url.value).trim())
            : databaseFile
      ),
    onSome: (file) =>
      file.trim() === ""
        ? Effect.fail(new UsageError({ message: "--database is empty: give the path of a database file" }))
        : Effect.succeed(isPostgresUrl(file) ? file.trim() : Path.resolve(file))
  })

/** A database as a message names it: a PostgreSQL URL without its password. */
const shown = (database: string) => {
  if (!isPostgresUrl(database)) return database
  try {
    const url = new URL(database)
    if (url.password !== "") url.password = "***"
    return url.toString()
  } catch {
    return "the PostgreSQL database"
  }
}

const command = <E>(databases: Databases<E>) => {
  const root = Command.make("nerv", {
    database: Options.text("database").pipe(
      Options.optional,
      Options.withDescription(
        "the database file, or a postgres:// URL (default: $NERV_DATABASE_URL, else $NERV_DATABASE, else .nerv/nerv.db)"
      )
    ),
    create: Options.boolean("create").pipe(
      Options.withDescription("create the database if it does not exist (otherwise only nerv init does)")
    )
  }, () =>
    Effect.fail(
      new UsageError({ message: "give a command, such as nerv init or nerv list (nerv --help lists them all)" })
    ))
  const file = Effect.flatMap(root, (config) => fileOf(config.database))
  const database = Layer.unwrapEffect(Effect.gen(function*() {
    const config = yield* root
    return databases.open(yield* fileOf(config.database), { create: config.create })
  }))
  const withDatabase = <Name extends string, R, E2, A>(self: Command.Command<Name, R, E2, A>) =>
    Command.provide(self, database)

  const init = Command.make("init", {}, () =>
    Effect.gen(function*() {
      const path = yield* file
      if (isPostgresUrl(path)) {
        // A PostgreSQL database exists already: init brings its tables up to date.
        yield* Effect.scoped(Layer.build(databases.open(path, { create: true })))
        yield* say(`${shown(path)} is ready as a NERV database`)
        const policy = yield* initialPolicy(policyFileOf(Path.resolve(".nerv", "nerv.db")))
        if (policy !== undefined) yield* say(policy)
        return
      }
      const existed = Fs.existsSync(path)
      yield* Effect.scoped(Layer.build(databases.open(path, { create: true })))
      yield* say(existed ? `${path} is already a NERV database; nothing changed` : `created ${path}`)
      // A database this init made starts with a policy; an existing one keeps whatever it has.
      if (!existed && Fs.existsSync(path)) {
        const policy = yield* initialPolicy(policyFileOf(path))
        if (policy !== undefined) yield* say(policy)
      }
    })).pipe(
      Command.withDescription(
        "create the database (and its folder, a master key file if none is configured, and a policy file " +
          "making you its admin if no policy is configured)"
      )
    )

  const verify = Command.make("verify", {}, () =>
    Effect.gen(function*() {
      const path = yield* file
      if (databases.readOnly === undefined) {
        return yield* new Errors.JournalError({
          reason: "nerv verify reads a database of its own, and there is none here"
        })
      }
      const report = yield* JournalVerify.scan({ onDamaged: (finding) => say(JournalVerify.describe(finding)) }).pipe(
        Effect.provide(databases.readOnly(path))
      )
      const damage = [
        count(report.damagedRows, "damaged row"),
        count(report.damagedSnapshots, "damaged snapshot"),
        count(report.documentsWithGaps, "document") + " with missing versions"
      ].join(", ")
      yield* say(
        `scanned ${count(report.rows, "row")} and ${count(report.snapshots, "snapshot")} of ${path}: ` +
          (JournalVerify.isClean(report) ? "no damage found" : damage)
      )
      if (!JournalVerify.isClean(report)) yield* exitWith(ExitCode.damaged)
    })).pipe(
      Command.withDescription(
        "scan the journal for damaged rows and report each one; read-only (exit status 3 if any is found)"
      )
    )

  return root.pipe(
    Command.withDescription("NERV documents from the command line"),
    Command.withSubcommands([
      init,
      withDatabase(create),
      withDatabase(update),
      withDatabase(remove),
      withDatabase(get),
      withDatabase(at),
      withDatabase(list),
      withDatabase(history),
      verify,
      withDatabase(forget),
      withDatabase(prune),
      withDatabase(rebuild),
      withDatabase(keys),
      withDatabase(audit),
      withDatabase(Ask.command),
      withDatabase(Trace.command),
      withDatabase(Inspect.command),
      withDatabase(Effects.command)
    ])
  )
}

/**
 * The exit status of `nerv` (see `Output.ExitCode`): 0 ok, 1 refused, 2 usage, 3 damage found,
 * 70 a bug.
 *
 * @since 0.1.0
 */
export const ExitCode = Output.ExitCode

/**
 * @since 0.1.0
 */
export interface RunOptions {
  /** Whether to colour each stream. Default: only a terminal, and only without `NO_COLOR`. */
  readonly colors?: { readonly stdout: boolean; readonly stderr: boolean } | undefined
  /** Whether someone can answer prompts (`--wizard`). Default: whether stdin is a terminal. */
  readonly interactive?: boolean | undefined
}

/**
 * Runs the command line on `args` (as `process.argv`), on the databases `databases` opens. Never
 * fails: whatever goes wrong is printed on stderr (a message a person can act on; a stack trace
 * only for a bug) and sets `process.exitCode` (see `ExitCode`). Warnings and errors the programs
 * log go to stderr too; their other log lines are not shown.
 *
 * @since 0.1.0
 */
export const run = <E>(
  args: ReadonlyArray<string>,
  databases: Databases<E>,
  options?: RunOptions
): Effect.Effect<void, never, CliApp.CliApp.Environment> => {
  const colors = options?.colors ?? {
    stdout: colorsFor(process.stdout, process.env),
    stderr: colorsFor(process.stderr, process.env)
  }
  const interactive = options?.interactive ?? process.stdin.isTTY === true
  // @effect/cli's wizard prompts on stdin: without a terminal it would wait for ever.
  const program = !interactive && args.slice(2).includes("--wizard")
    ? Effect.fail(new UsageError({ message: "--wizard asks questions, and needs a terminal to ask them on" }))
    : Command.run(command(databases), { name: "nerv", version: "0.1.0" })(args)
  return program.pipe(
    Effect.catchAllCause(Output.report),
    // The command line prints results, not the programs' log lines; warnings and errors still show.
    Logger.withMinimumLogLevel(LogLevel.Warning),
    Effect.provide(Logger.replace(Logger.defaultLogger, Output.stderrLogger(colors.stderr))),
    (program) => Effect.consoleWith((console) => Effect.withConsole(program, Output.terminalConsole(console, colors)))
  )
}
