/**
 * The README's host-code example: NERV's programs composed in a host's own program, with the
 * aspects, on the in-memory layer. Run it with `npx tsx examples/host-code.ts`.
 */
import { Access, Documents } from "@nerv/core"
import { Logging, Metrics, Nerv } from "@nerv/runtime"
import { Effect } from "effect"

const program = Effect.gen(function*() {
  const id = yield* Documents.create({ title: "Plan", content: "Draft" }).pipe(Access.as("ann"))
  yield* Documents.update(id, { content: "Ship it" }, { expectedVersion: 1 }).pipe(Access.as("bob"))
  const then = yield* Documents.at(id, 1)
  console.log(then.content, (yield* Documents.history(id)).length)
}).pipe(
  Effect.catchTag("VersionConflict", (e) => Effect.logWarning(e.message)),
  Logging.withLogging("plan"),
  Metrics.withMetrics("plan")
)

Effect.runPromise(program.pipe(Effect.provide(Nerv.layerMemory())))
