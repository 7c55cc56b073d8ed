/**
 * `nerv trace <correlation-id>`: the causal tree of one request (see `CausalTrace`), the command it
 * started with, the events it committed, the reactions they caused and their events, with who,
 * what and when. `--json` prints the same tree as JSON for scripts.
 *
 * ```sh
 * nerv trace 5d0c2e6a-…                      # a request's correlation id (stored in every event it caused)
 * nerv trace --document 7e1f… --version 2    # the request that made version 2 (default: the latest)
 * ```
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Access, Documents } from "@nerv/core"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CausalTrace from "../CausalTrace.js"
import { say, sayJson, UsageError } from "./Output.js"
import * as Principal from "./Principal.js"

/**
 * No event of the journal carries the correlation id asked for.
 *
 * @since 0.1.0
 */
export class CorrelationNotFound extends Data.TaggedError("CorrelationNotFound")<{ readonly correlationId: string }> {
  override get message() {
    return `no event in this journal carries the correlation id ${this.correlationId} ` +
      "(every event stores the correlation id of the request that caused it: nerv trace --document <id> " +
      "--version <n> starts from a document's version instead)"
  }
}

/**
 * The services `trace` needs.
 *
 * @since 0.1.0
 */
export type Services = Exclude<Documents.Services, Access.Principal>

const toJson = (command: CausalTrace.TraceCommand): unknown => ({
  causationId: command.causationId,
  documentId: command.documentId,
  actor: command.actor,
  at: DateTime.formatIso(command.at),
  events: command.events.map((event) => ({
    position: event.position,
    eventId: event.eventId,
    type: event.type,
    documentId: event.documentId,
    version: event.version,
    actor: event.actor,
    occurredAt: DateTime.formatIso(event.occurredAt),
    summary: event.summary,
    reactions: event.reactions.map(toJson)
  }))
})

/** The correlation id asked for: given, or read from the event that made a document's version. */
const correlationOf = (input: {
  readonly correlationId: Option.Option<string>
  readonly document: Option.Option<string>
  readonly version: Option.Option<number>
}) =>
  Effect.gen(function*() {
    if (Option.isSome(input.correlationId) === Option.isSome(input.document)) {
      return yield* new UsageError({
        message: "give a correlation id, or --document <id> (and --version <n>) to trace what made a version"
      })
    }
    if (Option.isSome(input.correlationId)) return input.correlationId.value
    const document = Option.getOrElse(input.document, () => "")
    if (Option.isSome(input.version)) {
      // Checks the id and the version the way every read does, with the same messages.
      yield* Documents.at(document, input.version.value)
    }
    const versions = yield* Documents.history(document)
    const made = Option.match(input.version, {
      onNone: () => versions[versions.length - 1]!,
      onSome: (version) => versions.find((v) => v.version === version)!
    })
    yield* Console.error(
      `correlation ${made.event.correlationId} (made version ${made.version} of ${made.event.documentId})`
    )
    return made.event.correlationId
  })

/**
 * The `trace` subcommand.
 *
 * @since 0.1.0
 */
export const command: Command.Command<
  "trace",
  Services,
  unknown,
  {
    readonly correlationId: Option.Option<string>
    readonly document: Option.Option<string>
    readonly version: Option.Option<number>
    readonly json: boolean
    readonly as: Option.Option<string>
  }
> = Command.make("trace", {
  correlationId: Args.text({ name: "correlation-id" }).pipe(
    Args.withDescription("the request's correlation id"),
    Args.optional
  ),
  document: Options.text("document").pipe(
    Options.withDescription("trace the request that made a version of this document instead"),
    Options.optional
  ),
  version: Options.integer("version").pipe(
    Options.withDescription("with --document: which version (default: the latest)"),
    Options.optional
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print JSON instead of text")),
  ...Principal.option
}, (input) =>
  Effect.gen(function*() {
    const correlationId = yield* correlationOf(input)
    const tree = yield* CausalTrace.trace(correlationId)
    if (tree.entries === 0) return yield* new CorrelationNotFound({ correlationId })
    if (input.json) {
      return yield* sayJson({ correlationId: tree.correlationId, roots: tree.roots.map(toJson) })
    }
    for (const line of CausalTrace.render(tree)) yield* say(line)
  }).pipe(
    // Reading the journal's entries of a request is a read of those documents: through the door.
    Access.guarded({ action: "Journal.trace", permission: "documents:read" }),
    Principal.runAs(input)
  )).pipe(
    Command.withDescription(
      "print the causal tree of a request: command → events → reactions → their commands, with who, what and when"
    )
  )
