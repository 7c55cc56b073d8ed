/**
 * The document lifecycle, end to end: subscribe to the document events, create two documents,
 * update one, delete the other, then print the recent events (newest first) and the metrics of
 * every operation.
 *
 * Everything is kept in a SQLite file (`NERV_DATABASE`, default `.nerv/nerv.db` in the working
 * directory, the same file the `nerv` command line uses): run it again and the documents of earlier
 * runs are still there, rebuilt from the journal on start. Unlike the command line, the demo
 * creates its database if there is none. With `NERV_DATABASE_URL=postgres://…` set, everything is
 * kept in that PostgreSQL database instead (`Nerv.layerPostgres`), as several nodes would share it.
 *
 * A dispatcher handler prints each document event it works through. In process by default; with
 * `NERV_NATS_URL` set, the dispatcher and the committed events go through NATS JetStream (streams
 * named `NERV_NATS_PREFIX`, default `nerv`), sealed under the database's master key unless
 * `NERV_ENCRYPTION=off`.
 *
 * Every call runs as a principal of the RBAC policy, checked and recorded in the database's audit
 * trail (`pnpm nerv audit verify` walks it). The policy comes from configuration, as the command
 * line's does (`NERV_RBAC_POLICY`, `NERV_RBAC_POLICY_FILE`, else `policy.json` beside the database);
 * with none, the demo writes `policy.json` as `nerv init` would, plus its own principals: ann, bob
 * and eve edit, the demo itself reads, and the system user is admin.
 *
 * Run it with `pnpm demo` (from the repository root, as `pnpm nerv` runs), then look at what it
 * left with `pnpm nerv list`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Access, DocumentEvent, Documents, type Errors, Journal } from "@nerv/core"
import { EventBus as Bus } from "@nerv/core"
import {
  BusCodec,
  Cipher,
  Dispatcher,
  Keyring,
  Logging,
  Metrics,
  NatsClient,
  NatsDispatcher,
  NatsEvents,
  Nerv
} from "@nerv/runtime"
import { AuthorTitles, Projection } from "@nerv/store"
import type * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { userInfo } from "node:os"
import * as Path from "node:path"

/** One line per log entry, with the operation's request id shortened, so the lifecycle stays readable. */
const compactLogger = Logger.make(({ annotations, logLevel, message }) => {
  const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
  const requestId = Option.match(HashMap.get(annotations, "requestId"), {
    onNone: () => "",
    onSome: (id) => `  (request ${String(id).slice(0, 8)})`
  })
  globalThis.console.log(`  [${logLevel.label.toLowerCase()}] ${text}${requestId}`)
})

/** Every operation gets the logging and the metrics aspects. */
const observed = (name: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(Metrics.withMetrics(name), Logging.withLogging(name))

const describe = (event: DocumentEvent.DocumentEvent): string => {
  switch (event._tag) {
    case "DocumentCreated":
      return `"${event.title}" created by ${event.actor}`
    case "DocumentUpdated":
      return `updated by ${event.actor} (${[event.title && "title", event.content && "content"].filter(Boolean)})`
    case "DocumentDeleted":
      return `deleted by ${event.actor}: ${event.reason}`
  }
}

const program = Effect.gen(function*() {
  const bus = yield* Bus.EventBus
  const journal = yield* Journal.Journal
  const earlier = yield* journal.head
  yield* Console.log(`Journal: ${yield* Nerv.databaseFile} (${earlier} events from earlier runs)\n`)

  // A read model that follows the journal from its checkpoint, in its own fiber.
  const authors = yield* Projection.run(AuthorTitles.projection)

  // A dispatcher handler works through the document events, each in turn.
  const dispatcher = yield* Dispatcher.Dispatcher
  let dispatched = 0
  const allDispatched = yield* Deferred.make<void>()
  yield* dispatcher.register(DocumentEvent.tags, (event) =>
    Effect.zipRight(
      Console.log(`  [dispatcher] ${event._tag} v${event.version}`),
      ++dispatched === 4 ? Deferred.succeed(allDispatched, void 0) : Effect.void
    ), { name: "demo-printer" })

  // Subscribe before anything happens; the subscriber runs in its own fiber.
  const events = yield* bus.subscribe(DocumentEvent.tags)
  const subscriber = yield* events.pipe(
    Stream.take(4),
    Stream.runForEach((event) => Console.log(`  [subscriber] ${event._tag} v${event.version}: ${describe(event)}`)),
    Effect.fork
  )

  yield* Console.log("Creating two documents, updating one, deleting the other:")
  const plan = yield* Documents.create({ title: "Launch plan", content: "Draft" }).pipe(Access.as("ann")).pipe(
    observed("Documents.create")
  )
  const memo = yield* Documents.create({ title: "Old memo", content: "Obsolete" }).pipe(Access.as("bob")).pipe(
    observed("Documents.create")
  )
  const updated = yield* Documents.update(plan, { content: "Ship on Friday" }, { expectedVersion: 1 }).pipe(
    Access.as("bob")
  )
    .pipe(observed("Documents.update"))
  yield* Documents.remove(memo, { reason: "superseded by the launch plan" }).pipe(Access.as("ann")).pipe(
    observed("Documents.remove")
  )

  // A stale write is refused with a typed error, and changes nothing.
  const conflict = yield* Documents.update(plan, { content: "Ship on Monday" }, { expectedVersion: 1 }).pipe(
    Access.as("eve")
  )
    .pipe(observed("Documents.update"), Effect.flip)
  yield* Console.log(`Refused: ${conflict._tag}: ${conflict.message}`)

  yield* Fiber.join(subscriber)
  yield* Deferred.await(allDispatched).pipe(Effect.timeout("30 seconds"), Effect.orDie)

  const listed = yield* Documents.list().pipe(observed("Documents.list"))
  yield* Console.log(`\nDocuments now: ${listed.map((d) => `"${d.title}" v${d.version}`).join(", ")}`)
  yield* Console.log(`"${updated.title}" reads: ${updated.content}`)
  const first = yield* Documents.at(plan, 1).pipe(observed("Documents.at"))
  yield* Console.log(`…and at version 1 it read: ${first.content}`)
  const changed = yield* Documents.diff(plan, 1, 2).pipe(observed("Documents.diff"))
  for (const change of changed.changes) {
    yield* Console.log(`  ${change.field}: "${change.before}" → "${change.after}" (by ${changed.editors.join(", ")})`)
  }

  const { state } = yield* authors.awaitPosition(yield* journal.head)
  yield* Console.log(`\nRead model, live documents per author (all runs):`)
  for (const author of ["ann", "bob"]) {
    const titles = [...AuthorTitles.titlesOf(state, author).values()]
    yield* Console.log(`  ${author}: ${titles.length === 0 ? "none" : titles.map((t) => `"${t}"`).join(", ")}`)
  }

  yield* Console.log("\nRecent events, newest first:")
  for (const event of yield* bus.history({ limit: 10 })) {
    const when = DateTime.formatIso(event.occurredAt)
    const what = DocumentEvent.is(event) ? describe(event) : `${event.operation} failed: ${event.error}`
    yield* Console.log(`  ${when}  ${event._tag.padEnd(16)} ${what}`)
  }

  yield* Console.log("\nPer-operation metrics:")
  yield* Console.log(Metrics.formatReport(yield* Metrics.report))
}).pipe(Effect.scoped)

/**
 * Where the dispatcher's work and the committed events go: in process, or through NATS JetStream
 * when `NERV_NATS_URL` is set. Either way it is provided inside the durable layer, whose journal
 * it follows.
 */
const delivery: Effect.Effect<
  Layer.Layer<
    Dispatcher.Dispatcher | Bus.EventBus,
    Dispatcher.DispatchUnavailable | NatsClient.NatsError | Errors.JournalError | ConfigError.ConfigError,
    Bus.EventBus | Journal.Journal
  >,
  ConfigError.ConfigError
> = Effect.gen(function*() {
  const url = process.env["NERV_NATS_URL"]
  if (url === undefined || url === "") {
    yield* Console.log("Delivery: in process")
    // The durable layer's bus, and a dispatcher it feeds.
    return Dispatcher.layer({ name: "demo" }).pipe(Layer.provideMerge(Layer.effect(Bus.EventBus, Bus.EventBus)))
  }
  const prefix = process.env["NERV_NATS_PREFIX"] ?? "nerv"
  const keyFile = Path.join(Path.dirname(yield* Nerv.databaseFile), "master.key")
  const wire = BusCodec.layerWireConfig(
    Cipher.layer.pipe(
      Layer.provide(Layer.effect(Keyring.Keyring, Keyring.configOrLocalFile(keyFile, Effect.succeed(false))))
    )
  )
  yield* Console.log(`Delivery: NATS JetStream at ${url} (streams ${prefix}-*)`)
  return NatsDispatcher.layer({ name: "demo", prefix }).pipe(
    Layer.provideMerge(NatsEvents.layer({ prefix })),
    Layer.provide(Layer.merge(NatsClient.layerConfig, wire))
  )
})

/**
 * The demo's policy, written beside the database when no policy is configured and none is there:
 * who may do what, for the demo and for the command line on the same database.
 */
const demoPolicy = Effect.gen(function*() {
  const configured = process.env["NERV_RBAC_POLICY"] !== undefined || process.env["NERV_RBAC_POLICY_FILE"] !== undefined
  const onPostgres = (process.env["NERV_DATABASE_URL"] ?? "").trim() !== ""
  const file = Nerv.policyFileOf(onPostgres ? Path.resolve(".nerv", "nerv.db") : yield* Nerv.databaseFile)
  if (configured || existsSync(file)) return
  const policy = {
    principals: {
      ann: ["editor"],
      bob: ["editor"],
      eve: ["editor"],
      demo: ["reader"],
      [userInfo().username]: ["admin"]
    },
    roles: {
      admin: ["*"],
      editor: ["documents:read", "documents:write", "documents:delete"],
      author: ["documents:read", "documents:write:own", "documents:delete:own"],
      reader: ["documents:read"]
    }
  }
  mkdirSync(Path.dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify(policy, null, 2) + "\n", { mode: 0o600 })
  yield* Console.log(`Policy: wrote ${file} (ann, bob and eve edit; ${userInfo().username} is admin)`)
})

Effect.flatMap(delivery, (layer) => program.pipe(Effect.provide(layer))).pipe(
  Effect.provide(Access.layerPrincipal("demo")),
  Effect.provide(Layer.unwrapEffect(Effect.map(demoPolicy, () => Nerv.layerDatabase({ create: true })))),
  Effect.provide(Logger.replace(Logger.defaultLogger, compactLogger)),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
