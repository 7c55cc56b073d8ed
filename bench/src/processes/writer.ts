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
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createInterface } from "node:readline"
import { nervWorkload, programLayer, sqliteLayer } from "../layers.js"

const [file, writersArg, versionsArg] = process.argv.slice(2)
const writers = Number(writersArg)
const versions = Number(versionsArg)

const layer = programLayer(sqliteLayer(file!))

const workload = nervWorkload(writers, versions)

const runtime = ManagedRuntime.make(layer)
await runtime.runPromise(Effect.void)
process.stdout.write("READY\n")
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== "GO") continue
  await runtime.runPromise(workload)
  process.stdout.write(`DONE ${writers * versions}\n`)
}
await runtime.dispose()
