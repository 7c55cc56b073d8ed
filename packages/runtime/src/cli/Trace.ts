/**
 * `nerv trace <correlation-id>`: the causal tree of one request (see `CausalTrace`), the command it
 * started with, the events it committed, the reactions they caused and their events, with who,
 * what and when. `--json` prints the same tree as JSON for scripts.
 *
 * ```sh
 * nerv trace 5d0c2e6a-…
 * ```
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type { Journal } from "@nerv/core"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as CausalTrace from "../CausalTrace.js"
import { say, sayJson } from "./Output.js"

/**
 * No event of the journal carries the correlation id asked for.
 *
 * @since 0.1.0
 */
export class CorrelationNotFound extends Data.TaggedError("CorrelationNotFound")<{ readonly correlationId: string }> {
  override get message() {
    return `no event in this journal carries the correlation id ${this.correlationId} ` +
      "(a correlation id is printed by the command that started the request, and stored in every event it caused)"
  }
}

/**
 * The services `trace` needs.
 *
 * @since 0.1.0
 */
export type Services = Journal.Journal

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

/**
 * The `trace` subcommand.
 *
 * @since 0.1.0
 */
export const command: Command.Command<
  "trace",
  Services,
  unknown,
  { readonly correlationId: string; readonly json: boolean }
> = Command.make("trace", {
  correlationId: Args.text({ name: "correlation-id" }).pipe(Args.withDescription("the request's correlation id")),
  json: Options.boolean("json").pipe(Options.withDescription("print JSON instead of text"))
}, (input) =>
  Effect.gen(function*() {
    const tree = yield* CausalTrace.trace(input.correlationId)
    if (tree.entries === 0) return yield* new CorrelationNotFound({ correlationId: input.correlationId })
    if (input.json) {
      return yield* sayJson({ correlationId: tree.correlationId, roots: tree.roots.map(toJson) })
    }
    for (const line of CausalTrace.render(tree)) yield* say(line)
  })).pipe(
    Command.withDescription(
      "print the causal tree of a request: command → events → reactions → their commands, with who, what and when"
    )
  )
