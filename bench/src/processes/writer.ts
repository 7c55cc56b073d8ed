/**
 * One process of the `durable append processes` workload: `writers` concurrent writers, each
 * creating a document and updating it until it has `versions` versions, on the durable SQLite
 * journal (group commit, synchronous=FULL, JSON payloads, as in `durable append`) of a file that
 * other processes write at the same time.
 *
 * It opens the database, prints `READY`, then runs the workload once per `GO` line on stdin,
 * printing `DONE <events>` after each, until stdin closes. So the parent times the commands alone,
 * not the start of the process or the opening of the database.
 *
 * Usage: node dist/processes-writer.mjs <database file> <writers> <versions>
 */
import { Documents, Notifier } from "@nerv/core"
import { EventBus, Ids } from "@nerv/runtime"
import { PayloadCodec, Snapshots, SqliteJournal, VersionedStore } from "@nerv/store"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createInterface } from "node:readline"

const [file, writersArg, versionsArg] = process.argv.slice(2)
const writers = Number(writersArg)
const versions = Number(versionsArg)

const layer = Layer.mergeAll(
  VersionedStore.layerFromJournal.pipe(
    Layer.provideMerge(SqliteJournal.layer()),
    Layer.provide(Layer.merge(SqliteJournal.layerClient({ filename: file! }), PayloadCodec.layerJson)),
    Layer.provide(Snapshots.layerPolicy(1_000))
  ),
  EventBus.layer(),
  Layer.succeed(Notifier.Notifier, { notify: () => Effect.void }),
  Ids.layerRandom,
  Logger.minimumLogLevel(LogLevel.None)
)

const workload = Effect.all(
  Array.from({ length: writers }, (_, w) =>
    Effect.gen(function*() {
      const id = yield* Documents.create({ title: `doc ${w}`, content: "v1", author: `author${w % 8}` })
      for (let v = 2; v <= versions; v++) {
        yield* Documents.update(id, { content: `version ${v} of a document` }, { editor: "bench" })
      }
    })),
  { concurrency: writers, discard: true }
)

const runtime = ManagedRuntime.make(layer)
await runtime.runPromise(Effect.void)
process.stdout.write("READY\n")
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== "GO") continue
  await runtime.runPromise(workload)
  process.stdout.write(`DONE ${writers * versions}\n`)
}
await runtime.dispose()
