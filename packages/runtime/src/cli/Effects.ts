/**
 * `nerv effects`: the outbox from the command line (see `Outbox` and `Performers`).
 *
 * ```sh
 * nerv effects                       # each effect type: its performer, pending, performed and dead counts
 * nerv effects list --status dead    # the dead letters, with their last error
 * nerv effects redrive --all         # send the dead letters back to be performed
 * nerv effects redrive --id <id>     # one of them (repeatable)
 * ```
 *
 * Like every process on the database, the command performs the due effects it finds while it runs.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Access, Outbox } from "@nerv/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Performers from "../Performers.js"
import { say, sayJson, UsageError } from "./Output.js"
import * as Principal from "./Principal.js"

/**
 * The services `effects` needs.
 *
 * @since 0.1.0
 */
export type Services = Outbox.Outbox | Performers.Performers | Access.Guard

const json = Options.boolean("json").pipe(Options.withDescription("print JSON instead of text"))

const ago = (now: number, then: number) => {
  const seconds = Math.max(0, Math.round((now - then) / 1000))
  return seconds < 120
    ? `${seconds}s`
    : seconds < 7200
    ? `${Math.round(seconds / 60)}m`
    : `${Math.round(seconds / 3600)}h`
}

/** The types of the outbox and of the performers, with their counts. */
const overview = Effect.gen(function*() {
  const outbox = yield* Outbox.Outbox
  const performers = yield* Effect.flatMap(Performers.Performers, (registry) => registry.performers)
  const counts = new Map((yield* outbox.counts()).map((count) => [count.type, count]))
  const types = [...new Set([...counts.keys(), ...performers.keys()])].sort()
  return types.map((type) => ({
    type,
    performer: performers.has(type),
    pending: counts.get(type)?.pending ?? 0,
    performed: counts.get(type)?.performed ?? 0,
    dead: counts.get(type)?.dead ?? 0,
    oldestPendingAt: counts.get(type)?.oldestPendingAt
  }))
})

/** The outbox's administration goes through the door too: as `--as`, needing `outbox:admin`, audited. */
const guardedAs =
  (input: { readonly as: Option.Option<string> }, action: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
    self.pipe(Access.guarded({ action, permission: "outbox:admin" }), Principal.runAs(input))

const summary = Command.make("effects", { json, ...Principal.option }, (input) =>
  Effect.gen(function*() {
    const types = yield* overview
    if (input.json) return yield* sayJson(types)
    if (types.length === 0) return yield* say("no effect types: nothing recorded, no performer registered")
    const now = yield* Clock.currentTimeMillis
    for (const t of types) {
      yield* say(
        `${t.type}: performer ${t.performer ? "registered" : "MISSING"}, ${t.pending} pending, ` +
          `${t.performed} performed, ${t.dead} dead` +
          (t.oldestPendingAt === undefined ? "" : `, oldest pending ${ago(now, t.oldestPendingAt)} old`)
      )
    }
  }).pipe(guardedAs(input, "Outbox.overview")))

const list = Command.make("list", {
  status: Options.choice("status", ["pending", "performed", "dead"]).pipe(
    Options.withDefault("dead" as const),
    Options.withDescription("which effects (default: dead, the dead letters)")
  ),
  type: Options.text("type").pipe(Options.optional, Options.withDescription("only effects of this type")),
  limit: Options.integer("limit").pipe(
    Options.withDefault(100),
    Options.withDescription("at most this many, oldest first (default 100)")
  ),
  json,
  ...Principal.option
}, (input) =>
  Effect.gen(function*() {
    if (input.limit < 1) return yield* new UsageError({ message: "--limit must be at least 1" })
    const effects = yield* Effect.flatMap(Outbox.Outbox, (outbox) =>
      outbox.list({ status: input.status, type: Option.getOrUndefined(input.type), limit: input.limit }))
    if (input.json) {
      return yield* sayJson(effects)
    }
    for (const effect of effects) {
      yield* say(
        `${effect.id} ${effect.type} ${effect.status}, ${effect.attempts} attempt${
          effect.attempts === 1 ? "" : "s"
        }, ` +
          `document ${effect.documentId} v${effect.version}: ${JSON.stringify(effect.payload)}` +
          (effect.lastError === undefined ? "" : ` (last error: ${effect.lastError})`)
      )
    }
  }).pipe(guardedAs(input, "Outbox.list"))).pipe(
    Command.withDescription("list effects, oldest first (default: the dead letters)")
  )

const redrive = Command.make("redrive", {
  ids: Options.text("id").pipe(Options.repeated, Options.withDescription("a dead effect's id (repeatable)")),
  all: Options.boolean("all").pipe(Options.withDescription("every dead effect")),
  ...Principal.option
}, (input) =>
  Effect.gen(function*() {
    if (input.all === (input.ids.length > 0)) {
      return yield* new UsageError({ message: "give either --all or the --id of each dead effect to re-drive" })
    }
    const outbox = yield* Outbox.Outbox
    const count = yield* outbox.redrive(input.all ? "all" : input.ids, yield* Clock.currentTimeMillis)
    yield* say(`re-drove ${count} dead effect${count === 1 ? "" : "s"}: pending again, with no attempts counted`)
  }).pipe(guardedAs(input, "Outbox.redrive"))).pipe(
    Command.withDescription("send dead effects back to be performed (their attempts start again)")
  )

/**
 * The `effects` subcommand.
 *
 * @since 0.1.0
 */
export const command: Command.Command<
  "effects",
  Services,
  unknown,
  {
    readonly json: boolean
    readonly as: Option.Option<string>
    readonly subcommand: Option.Option<
      | {
        readonly status: Outbox.Status
        readonly type: Option.Option<string>
        readonly limit: number
        readonly json: boolean
        readonly as: Option.Option<string>
      }
      | { readonly ids: Array<string>; readonly all: boolean; readonly as: Option.Option<string> }
    >
  }
> = summary.pipe(
  Command.withDescription(
    "the outbox: each effect type with its performer and its pending, performed and dead counts"
  ),
  Command.withSubcommands([list, redrive])
)
