/**
 * A worker process of the `distributed dispatch` benchmark (bundled to dist/nats-worker.mjs). For
 * every event it handles it sends `<n> <latency ms>` on `<prefix>.done` (a plain NATS message), the
 * latency being from the publisher's stamp to the start of the handler, on the machine's clock.
 *
 * - `nerv`: a handler of NERV's NATS dispatcher, sealed under `NERV_MASTER_KEYS`.
 * - `raw`: the same work on the raw client: a shared durable consumer, JSON, `ack`.
 *
 * Usage: node nats-worker.mjs <nerv|raw> <nats url> <prefix>
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { BusCodec, Cipher, Keyring, NatsClient, NatsDispatcher } from "@nerv/runtime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { performance } from "node:perf_hooks"
import { Tick } from "./natsTick.js"

const [system, url, prefix] = process.argv.slice(2) as ["nerv" | "raw", string, string]
const now = () => performance.timeOrigin + performance.now()
const encoder = new TextEncoder()

const runRaw = async () => {
  const nc = await connect({ servers: url, name: "bench-raw-worker" })
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  const stream = `${prefix}-raw`
  await jsm.consumers.add(stream, {
    durable_name: "bench",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    filter_subject: `${prefix}.raw`,
    max_ack_pending: 100_000
  }).catch(() => undefined)
  const consumer = await js.consumers.get(stream, "bench")
  const messages = await consumer.consume({ max_messages: 128, expires: 2_000 })
  process.stdout.write("READY\n")
  for await (const msg of messages) {
    const started = now()
    const tick = JSON.parse(new TextDecoder().decode(msg.data)) as { n: number; sentAt: number }
    msg.ack()
    nc.publish(`${prefix}.done`, encoder.encode(`${tick.n} ${started - tick.sentAt}`))
  }
}

const runNerv = () =>
  Effect.gen(function*() {
    const client = yield* NatsClient.NatsClient
    const dispatcher = yield* NatsDispatcher.make({ schema: Tick, prefix })
    yield* dispatcher.register("Tick", (tick) =>
      Effect.sync(() => {
        const started = now()
        client.connection.publish(`${prefix}.done`, encoder.encode(`${tick.n} ${started - tick.sentAt}`))
      }), { name: "bench" })
    process.stdout.write("READY\n")
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(
      NatsClient.layer({ servers: url, name: "bench-nerv-worker" }),
      BusCodec.layerWire.pipe(Layer.provide(Cipher.layer), Layer.provide(Keyring.layerConfig))
    )),
    Effect.runPromise
  )
;(system === "raw" ? runRaw() : runNerv()).catch((error) => {
  console.error(error)
  process.exit(1)
})
