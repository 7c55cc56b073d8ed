/**
 * `nerv ask "…"`: a request in plain English, analysed as the principal `--as` names (needs
 * `intent:analyze`), then carried out through the same guarded operations as the typed commands.
 *
 * ```sh
 * nerv ask "show me how the launch plan looked at version 1" --as ann
 * nerv ask "delete the launch plan because it is obsolete" --as ann --yes
 * ```
 *
 * The interpretation and other commentary go to stderr, results to stdout (`--json`: one JSON
 * object, `{ interpretation, outcome }`, for scripts). A read runs at once; a change asks first on a
 * terminal, runs with `--yes`, and is refused without a terminal unless `--yes` is given. Anything
 * not carried out (not understood, ambiguous, incomplete, declined, refused) exits with status 1.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Prompt from "@effect/cli/Prompt"
import type * as Terminal from "@effect/platform/Terminal"
import { Document, Documents, IdGenerator } from "@nerv/core"
import type * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Path from "node:path"
import * as IntentAnalyzer from "../IntentAnalyzer.js"
import * as IntentCommand from "../IntentCommand.js"
import { databaseFile } from "../Nerv.js"
import type * as Nerv from "../Nerv.js"
import type * as AuditTrail from "../security/AuditTrail.js"
import * as Cipher from "../security/Cipher.js"
import type * as DataKeys from "../security/DataKeys.js"
import * as Keyring from "../security/Keyring.js"
import { enabled as encryptionEnabled } from "../security/SealedPayloads.js"
import * as SecureIntents from "../security/SecureIntents.js"
import * as Principal from "./Principal.js"

const encodeDocument = Schema.encodeSync(Document.Document)
const encodeInterpretation = Schema.encodeSync(IntentCommand.Interpretation)

const short = (id: string) => id.slice(0, 8)
const ref = (document: IntentCommand.DocumentRef) => `"${document.title}" (${short(document.id)}…)`

/**
 * A command as a person reads it.
 *
 * @since 0.1.0
 */
export const describeCommand = (command: IntentCommand.Command): string => {
  switch (command._tag) {
    case "create":
      return `create a document titled "${command.title}"` +
        (command.content === "" ? "" : ` with content "${command.content}"`) +
        (command.author === undefined ? "" : ` by ${command.author}`)
    case "update":
      return `update ${ref(command.document)}: ` + [
        command.title === undefined ? undefined : `title → "${command.title}"`,
        command.content === undefined ? undefined : `content → "${command.content}"`
      ].filter((s) => s !== undefined).join(", ")
    case "delete":
      return `delete ${ref(command.document)} because "${command.reason}"`
    case "show":
      return `show ${ref(command.document)}`
    case "list":
      return command.author === undefined ? "list the documents" : `list the documents by ${command.author}`
    case "history":
      return `show the history of ${ref(command.document)}`
    case "at":
      return `show ${ref(command.document)} at version ${command.version}`
    case "asOf":
      return `show ${ref(command.document)} as it was at ${DateTime.formatIso(command.instant)}`
    case "diff":
      return `compare versions ${command.from} and ${command.to} of ${ref(command.document)}`
    case "forget":
      return `forget ${ref(command.document)}: destroy its content for good (crypto-shredding)`
  }
}

const explain = (interpretation: IntentCommand.Interpretation): string => {
  switch (interpretation._tag) {
    case "Understood":
      return `understood: ${describeCommand(interpretation.command)} (confidence ${
        interpretation.confidence.toFixed(2)
      })`
    case "Ambiguous":
      return `"${interpretation.mention}" could be any of these documents; name one by its id or full title:\n` +
        interpretation.candidates.map((c) => `  ${c.id}  ${c.title}  (by ${c.author})`).join("\n")
    case "Incomplete":
      return `understood "${interpretation.intent}", but ${interpretation.missing.join(", ") || "a slot"} ` +
        `is missing or invalid: ${interpretation.hint}`
    case "NotUnderstood":
      return `not understood. Closest things NERV can do:\n` +
        interpretation.suggestions.map((s) => `  ${s.intent.padEnd(8)} e.g. nerv ask "${s.example}"`).join("\n")
  }
}

const printOutcome = (outcome: SecureIntents.Outcome): Effect.Effect<void> => {
  switch (outcome._tag) {
    case "Created":
      return Console.log(outcome.id)
    case "Changed":
      return Console.log(
        outcome.document.isDeleted
          ? `${outcome.document.id} deleted at version ${outcome.document.version}`
          : `${outcome.document.id} is at version ${outcome.document.version}`
      )
    case "Document":
      return Console.log(JSON.stringify(encodeDocument(outcome.document), null, 2))
    case "Documents":
      return outcome.documents.length === 0
        ? Console.log("no documents")
        : Effect.forEach(
          outcome.documents,
          (d) => Console.log(`${d.id}  v${d.version}  ${d.title}  (by ${d.author})`),
          {
            discard: true
          }
        )
    case "History":
      return Effect.forEach(
        outcome.versions,
        ({ event, version }) =>
          Console.log(`v${version}  ${DateTime.formatIso(event.occurredAt)}  ${event.actor.padEnd(12)} ${event._tag}`),
        { discard: true }
      )
    case "Diff":
      return Console.log(
        outcome.diff.changes.length === 0
          ? `no differences between versions ${outcome.diff.fromVersion} and ${outcome.diff.toVersion}`
          : outcome.diff.changes.map((c) => `${c.field}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`)
            .join("\n") + `\nedited by: ${outcome.diff.editors.join(", ") || "nobody"}`
      )
    case "Forgotten":
      return Console.log(`${outcome.id} forgotten: its content is destroyed, its history keeps its shape`)
  }
}

const jsonOutcome = (outcome: SecureIntents.Outcome): unknown => {
  switch (outcome._tag) {
    case "Changed":
    case "Document":
      return { _tag: outcome._tag, document: encodeDocument(outcome.document) }
    case "Documents":
      return { _tag: outcome._tag, documents: outcome.documents.map((d) => encodeDocument(d)) }
    case "History":
      return {
        _tag: outcome._tag,
        versions: outcome.versions.map((v) => ({ version: v.version, document: encodeDocument(v.document) }))
      }
    default:
      return outcome
  }
}

const failed = Effect.sync(() => {
  process.exitCode = 1
})

/** Whether a change may run: `--yes`, or a yes on a terminal. Non-interactive without `--yes`: no. */
const confirmed = (yes: boolean, what: string) =>
  Effect.gen(function*() {
    if (yes) return true
    if (process.stdin.isTTY !== true || process.stdout.isTTY !== true) {
      yield* Console.error(
        `refused: "${what}" is a change, and there is no terminal to confirm it on; nothing was changed. ` +
          `Add --yes to carry it out without asking.`
      )
      return false
    }
    const answer = yield* Prompt.confirm({ message: `${what}?`, initial: false }).pipe(
      Effect.catchAll(() => Effect.succeed(false))
    )
    if (!answer) yield* Console.error("not confirmed: nothing was changed")
    return answer
  })

/** The analyzer the host gave, else one trained in memory from the shipped corpus. */
const withAnalyzer = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Effect.serviceOption(IntentAnalyzer.IntentAnalyzer),
    Option.match({
      onSome: (analyzer) => Effect.provideService(program, IntentAnalyzer.IntentAnalyzer, analyzer),
      onNone: () => Effect.provide(program, IntentAnalyzer.layerMemory())
    })
  )

/**
 * What `ask` runs on: the document services, the audit trail and the data keys (as the other
 * commands), and a terminal to confirm changes on.
 *
 * @since 0.1.0
 */
export type Services = Nerv.Services | AuditTrail.AuditTrail | DataKeys.DataKeys | Terminal.Terminal

/**
 * The `ask` subcommand, to register in the command line. Its failures are NERV's typed errors,
 * which the command line prints.
 *
 * @since 0.1.0
 */
export const command: Command.Command<
  "ask",
  Services,
  unknown,
  {
    readonly text: string
    readonly yes: boolean
    readonly json: boolean
    readonly as: Option.Option<string>
  }
> = Command.make("ask", {
  text: Args.text({ name: "request" }).pipe(
    Args.withDescription("what to do, in plain English, e.g. \"show me the launch plan at version 1\"")
  ),
  yes: Options.boolean("yes").pipe(Options.withDescription("carry out a change without asking")),
  json: Options.boolean("json").pipe(Options.withDescription("print one JSON object on stdout, for scripts")),
  ...Principal.option
}, (input) =>
  Effect.gen(function*() {
    const correlationId = yield* Effect.flatMap(IdGenerator.IdGenerator, (ids) => ids.next)
    yield* Effect.gen(function*() {
      const interpretation = yield* SecureIntents.analyze(input.text)
      if (!input.json) yield* Console.error(explain(interpretation))
      const print = (outcome: SecureIntents.Outcome | null) =>
        input.json
          ? Console.log(JSON.stringify({
            interpretation: encodeInterpretation(interpretation),
            outcome: outcome === null ? null : jsonOutcome(outcome)
          }))
          : outcome === null
          ? Effect.void
          : printOutcome(outcome)
      if (interpretation._tag !== "Understood") {
        yield* print(null)
        return yield* failed
      }
      const { command } = interpretation
      if (IntentCommand.isChange(command) && !(yield* confirmed(input.yes, describeCommand(command)))) {
        yield* print(null)
        return yield* failed
      }
      const outcome = yield* SecureIntents.run(command).pipe(
        Effect.catchTag("AuthorIsNotPrincipal", (error) => Effect.as(Console.error(error.message), null))
      )
      yield* print(outcome)
      if (outcome === null) yield* failed
    }).pipe(
      Documents.withCorrelation(correlationId),
      Principal.runAs(input),
      withAnalyzer
    )
  })).pipe(
    Command.withDescription(
      "do what a plain-English request says (needs intent:analyze, then the permission of what it does)"
    )
  )

/**
 * The analyzer for the durable command line: its model sealed with the master key in
 * `intent-model.sealed` beside the database, read from the same keyring as the database's data
 * keys (build it after `Nerv.layerSqlite`, which makes the key file on a first start). With
 * encryption off (`NERV_ENCRYPTION=off`) there is no master key: the model is trained in memory on
 * each `ask` and never written.
 *
 * @since 0.1.0
 */
export const layerBesideDatabase = (
  database: string | undefined
): Layer.Layer<IntentAnalyzer.IntentAnalyzer, ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    if (!(yield* encryptionEnabled)) return IntentAnalyzer.layerMemory()
    const filename = database === undefined ? yield* databaseFile : Path.resolve(database)
    const folder = Path.dirname(filename)
    // Never generates a key: the database's layer did, or the configured keys are used.
    const keyring = Layer.effect(
      Keyring.Keyring,
      Keyring.configOrLocalFile(Path.join(folder, "master.key"), Effect.succeed(true))
    )
    return IntentAnalyzer.layerSealed(Path.join(folder, "intent-model.sealed")).pipe(
      Layer.provide(Cipher.layer),
      Layer.provide(keyring)
    )
  }))
