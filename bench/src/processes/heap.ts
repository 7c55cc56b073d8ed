/**
 * The process of the `retained heap 1M events` workload: writes `documents` documents of
 * `versions` versions each through NERV's commands on the durable SQLite journal (64 writers, the
 * default store budget), reads every document back, then collects garbage and prints the heap it
 * retains, in bytes: what a process that has written and read that much keeps.
 *
 * Usage: node --expose-gc dist/processes-heap.mjs <database file> <documents> <versions>
 */
import { Access, Documents } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { programLayer, sqliteLayer } from "../layers.js"

const [file, documentsArg, versionsArg] = process.argv.slice(2)
const documents = Number(documentsArg)
const versions = Number(versionsArg)
const writers = 64

const layer = programLayer(sqliteLayer(file!))

const program = Effect.gen(function*() {
  const ids: Array<string> = []
  // Each writer writes its share of the documents, one after the other.
  yield* Effect.all(
    Array.from({ length: writers }, (_, w) =>
      Effect.gen(function*() {
        for (let d = w; d < documents; d += writers) {
          const id = yield* Documents.create({ title: `doc ${d}`, content: "v1" }).pipe(Access.as(`author${d % 8}`))
          for (let v = 2; v <= versions; v++) {
            yield* Documents.update(id, { content: `version ${v} of document ${d}` }).pipe(Access.as("bench"))
          }
          ids.push(id)
        }
      })),
    { concurrency: writers, discard: true }
  )
  for (const id of ids) yield* Documents.get(id)
})

const runtime = ManagedRuntime.make(layer)
await runtime.runPromise(program)
globalThis.gc?.()
globalThis.gc?.()
process.stdout.write(`HEAP ${process.memoryUsage().heapUsed}\n`)
await runtime.dispose()
