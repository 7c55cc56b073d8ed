/**
 * The `nerv` command line: every document program as a subcommand, on whatever layer the host
 * gives it (the binary uses the durable embedded default).
 *
 * ```sh
 * nerv create --title Plan --content Draft --author ann
 * nerv update <id> --content "Ship it" --editor bob --expected-version 1
 * nerv history <id>
 * ```
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import { type DocumentEvent, Documents, DocumentStore, Errors } from "@nerv/core"
import { Document } from "@nerv/core"
import { Rebuild, Retention } from "@nerv/store"
import type * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Ask from "./cli/Ask.js"
import type { Services } from "./Nerv.js"
import * as ProgressBar from "./ProgressBar.js"
import type * as AuditTrail from "./security/AuditTrail.js"
import type * as DataKeys from "./security/DataKeys.js"
import * as Rbac from "./security/Rbac.js"
import * as SecureDocuments from "./security/SecureDocuments.js"

const id = Args.text({ name: "id" }).pipe(Args.withDescription("the document's id"))
const expectedVersion = Options.integer("expected-version").pipe(
  Options.optional,
  Options.withDescription("refuse the change unless the document is still at this version")
)
const json = Options.boolean("json").pipe(Options.withDescription("print JSON instead of text"))

const encodeDocument = Schema.encodeSync(Document.Document)
const printDocument = (document: Document.Document) => Console.log(JSON.stringify(encodeDocument(document), null, 2))

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
  content: Options.text("content").pipe(Options.withDefault("")),
  author: Options.text("author")
}, (input) => Effect.flatMap(Documents.create(input), Console.log)).pipe(
  Command.withDescription("create a document and print its id")
)

const update = Command.make(
  "update",
  {
    id,
    title: Options.text("title").pipe(Options.optional),
    content: Options.text("content").pipe(Options.optional),
    editor: Options.text("editor"),
    expectedVersion
  },
  (input) =>
    Documents.update(input.id, { ...optionalField("title", input.title), ...optionalField("content", input.content) }, {
      editor: input.editor,
      ...optionalField("expectedVersion", input.expectedVersion)
    }).pipe(Effect.flatMap((d) => Console.log(`${d.id} is at version ${d.version}`)))
).pipe(
  Command.withDescription("change a document's title and/or content")
)

const remove = Command.make("delete", {
  id,
  reason: Options.text("reason"),
  actor: Options.text("actor"),
  expectedVersion
}, (input) =>
  Documents.remove(input.id, {
    reason: input.reason,
    actor: input.actor,
    ...optionalField("expectedVersion", input.expectedVersion)
  }).pipe(Effect.flatMap((d) => Console.log(`${d.id} deleted at version ${d.version}`)))).pipe(
    Command.withDescription("delete a document (its history stays readable)")
  )

const get = Command.make("get", { id }, (input) => Effect.flatMap(Documents.get(input.id), printDocument)).pipe(
  Command.withDescription("print a document's latest state as JSON")
)

const at = Command.make(
  "at",
  { id, version: Args.integer({ name: "version" }) },
  (input) => Effect.flatMap(Documents.at(input.id, input.version), printDocument)
).pipe(Command.withDescription("print a document as it was at one version"))

const list = Command.make("list", { json }, (input) =>
  Effect.gen(function*() {
    const documents = yield* Documents.list()
    if (input.json) return yield* Console.log(JSON.stringify(documents.map((d) => encodeDocument(d)), null, 2))
    if (documents.length === 0) return yield* Console.log("no documents")
    for (const d of documents) yield* Console.log(`${d.id}  v${d.version}  ${d.title}  (by ${d.author})`)
  })).pipe(Command.withDescription("list the documents that are not deleted"))

const history = Command.make("history", { id, json }, (input) =>
  Effect.gen(function*() {
    const versions = yield* Documents.history(input.id).pipe(
      Effect.catchTag("DocumentForgotten", (forgotten) =>
        // A forgotten document's history keeps its shape: versions, times and actors, no content.
        Effect.flatMap(DocumentStore.DocumentStore, (store) => store.shape(forgotten.documentId as Document.DocumentId))
          .pipe(Effect.map((shape) => ({ forgotten: shape }))))
    )
    if ("forgotten" in versions) {
      if (input.json) {
        return yield* Console.log(JSON.stringify(
          versions.forgotten.map((v) => ({ ...v, occurredAt: DateTime.formatIso(v.occurredAt), content: null })),
          null,
          2
        ))
      }
      for (const v of versions.forgotten) {
        yield* Console.log(
          `v${v.version}  ${DateTime.formatIso(v.occurredAt)}  ${v.actor.padEnd(12)} ${v.event} (content forgotten)`
        )
      }
      return
    }
    if (input.json) {
      const encode = Schema.encodeSync(Schema.Struct({ version: Schema.Number, document: Document.Document }))
      return yield* Console.log(JSON.stringify(versions.map((v) => encode(v)), null, 2))
    }
    for (const { event, version } of versions) {
      yield* Console.log(
        `v${version}  ${DateTime.formatIso(event.occurredAt)}  ${event.actor.padEnd(12)} ${summary(event)}`
      )
    }
  })).pipe(Command.withDescription("print every version: when, who, what"))

/**
 * Who runs an administrative command: a principal named with `--as` and `--role`, checked against
 * the policy in `NERV_RBAC_POLICY` (deny by default) and recorded in the audit trail, like any
 * other guarded call.
 */
const asPrincipal = {
  as: Options.text("as").pipe(Options.withDescription("the principal running the command (recorded in the audit)")),
  roles: Options.text("role").pipe(
    Options.repeated,
    Options.withDescription("a role of the principal (repeatable), granted by NERV_RBAC_POLICY")
  )
}

const guardedBy = (input: { readonly as: string; readonly roles: ReadonlyArray<string> }) =>
  Rbac.withPrincipal({ id: input.as, roles: input.roles })

const forget = Command.make("forget", { id, ...asPrincipal }, (input) =>
  SecureDocuments.forget(input.id).pipe(
    guardedBy(input),
    Effect.zipRight(Console.log(`${input.id} forgotten: its content is destroyed, its history keeps its shape`))
  )).pipe(
    Command.withDescription("crypto-shred a document (needs documents:forget)"),
    Command.provide(Rbac.layerPolicyConfig)
  )

const rewrap = Command.make("rewrap", asPrincipal, (input) =>
  SecureDocuments.rewrapKeys().pipe(
    guardedBy(input),
    Effect.flatMap((report) => {
      if (report.failed.length > 0) process.exitCode = 1
      return Console.log(
        `data keys re-wrapped under the active master key: ${report.rewrapped}, already current: ` +
          `${report.alreadyCurrent}, failed: ${report.failed.length}` +
          report.failed.map((f) => `\n  ${JSON.stringify(f)}`).join("")
      )
    })
  )).pipe(Command.withDescription("re-wrap every data key under the newest master key (needs keys:admin)"))

const verify = Command.make("verify", asPrincipal, (input) =>
  SecureDocuments.verifyAudit().pipe(
    guardedBy(input),
    Effect.flatMap((verification) => {
      if (verification._tag === "Intact") {
        return Console.log(
          `audit trail intact: ${verification.count} records` +
            (verification.head === undefined
              ? ""
              : `, head ${JSON.stringify(verification.head)} (keep it as an anchor)`)
        )
      }
      process.exitCode = 2
      return Console.error(`audit trail BROKEN at record ${verification.sequence}: ${verification.reason}`)
    })
  )).pipe(
    Command.withDescription("walk the audit trail's hash chain and report the first broken link (needs audit:read)")
  )

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
  ...asPrincipal
}, (input) =>
  Effect.flatMap(
    Effect.serviceOption(Retention.Retention),
    Option.match({
      onNone: () =>
        Effect.fail(
          new Errors.JournalError({ reason: "this journal has no retention: pruning needs the SQLite journal" })
        ),
      onSome: (retention) =>
        SecureDocuments.prune(
          { olderThan: input.olderThan, archive: Option.getOrUndefined(input.archive) },
          { dryRun: input.dryRun }
        ).pipe(
          guardedBy(input),
          Effect.provideService(Retention.Retention, retention),
          Effect.flatMap((pruned) => {
            const what = `${count(pruned.events, "event")} of ${count(pruned.documents, "document")} and ` +
              count(pruned.snapshots, "snapshot")
            return Console.log(
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
    Command.withDescription("prune (and archive) the versions the retention policy lets go (needs journal:prune)"),
    Command.provide(Rbac.layerPolicyConfig)
  )

const rebuild = Command.make("rebuild", {
  fromScratch: Options.boolean("from-scratch").pipe(
    Options.withDescription("take every snapshot again from the events (after changing an upcaster)")
  ),
  ...asPrincipal
}, (input) =>
  SecureDocuments.rebuild({ fromScratch: input.fromScratch }).pipe(
    guardedBy(input),
    Effect.provideService(Rebuild.RebuildProgress, { report: ProgressBar.make() }),
    Effect.flatMap((summary) =>
      Console.log(
        `rebuilt: ${count(summary.documents, "document")}, ${count(summary.events, "event")} read and checked, ` +
          `${count(summary.snapshotsTaken, "snapshot")} taken` +
          (input.fromScratch ? `, ${count(summary.snapshotsRemoved, "snapshot")} removed first` : "")
      )
    )
  )).pipe(
    Command.withDescription(
      "read and check every document of the journal, and take the snapshots long histories lack (needs journal:rebuild)"
    ),
    Command.provide(Rbac.layerPolicyConfig)
  )

const keys = Command.make("keys").pipe(
  Command.withDescription("master and data key administration"),
  Command.withSubcommands([rewrap]),
  Command.provide(Rbac.layerPolicyConfig)
)

const audit = Command.make("audit").pipe(
  Command.withDescription("the tamper-evident audit trail"),
  Command.withSubcommands([verify]),
  Command.provide(Rbac.layerPolicyConfig)
)

/** NERV's expected errors: every class `@nerv/core`'s `Errors` exports is named after its tag. */
const domainErrors = new Set(Object.keys(Errors))

/**
 * What the command line runs on: the document services, plus the audit trail and the data keys
 * for the administrative commands (`Nerv.layerSqlite` provides them all).
 *
 * @since 0.1.0
 */
export type CliServices = Services | AuditTrail.AuditTrail | DataKeys.DataKeys

const isDomainError = (error: unknown): error is { readonly _tag: string; readonly message: string } =>
  error instanceof Error && "_tag" in error && typeof error._tag === "string" && domainErrors.has(error._tag)

const command = <E>(layer: (database: Option.Option<string>) => Layer.Layer<CliServices, E>) =>
  Command.make("nerv", {
    database: Options.text("database").pipe(
      Options.optional,
      Options.withDescription("the database file (default: $NERV_DATABASE or .nerv/nerv.db)")
    )
  }).pipe(
    Command.withDescription("NERV documents from the command line"),
    Command.withSubcommands([
      create,
      update,
      remove,
      get,
      at,
      list,
      history,
      forget,
      prune,
      rebuild,
      keys,
      audit,
      Ask.command
    ]),
    Command.provide((config) => layer(config.database))
  )

/**
 * Runs the command line on `args` (as `process.argv`), with the services `layer` builds from the
 * `--database` option. An expected error (bad input, a conflict, an unknown document…) is printed
 * as its message on stderr and sets the exit code to 1; so does a malformed command line, whose
 * explanation @effect/cli prints with the usage.
 *
 * @since 0.1.0
 */
export const run = <E>(
  args: ReadonlyArray<string>,
  layer: (database: Option.Option<string>) => Layer.Layer<CliServices, E>
): Effect.Effect<void, E | ConfigError.ConfigError, CliApp.CliApp.Environment> =>
  Command.run(command(layer), { name: "nerv", version: "0.1.0" })(args).pipe(
    Effect.catchAll((error) => {
      if (ValidationError.isValidationError(error)) return exitWith(1)
      return isDomainError(error)
        ? Effect.zipRight(Console.error(`${error._tag}: ${error.message}`), exitWith(1))
        : Effect.fail(error as E | ConfigError.ConfigError)
    })
  )

const exitWith = (code: number) =>
  Effect.sync(() => {
    process.exitCode = code
  })
