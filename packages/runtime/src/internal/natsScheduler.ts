/**
 * Delayed and scheduled events on a JetStream without scheduled messages (NATS 2.9): they wait in
 * the delay stream, one subject per event id (so `cancel` finds it by subject and deletes it), with their
 * due time and their destination in headers. One durable consumer, shared by every process that
 * runs a NATS dispatcher on the prefix, reads them: a message not yet due is given back with
 * `nak(due − now)`, so the server holds it and hands it out again when it is due (to whichever
 * process is there then); a due one is published to its work subject (its id is the event id and
 * due time, so a scheduler that dies between publishing and deleting cannot fire it twice within
 * the duplicate window), deleted from the delay stream, and acknowledged.
 */
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream"
import { headers } from "@nats-io/transport-node"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { attempt, type NatsClientService, type NatsError } from "../nats/NatsClient.js"
import * as Topology from "./natsTopology.js"

/**
 * The headers a delayed message carries in clear: when it is due (epoch milliseconds), where it
 * goes then, and its event id.
 *
 * @since 0.1.0
 */
export const header = { due: "Nerv-Due", target: "Nerv-Target", eventId: "Nerv-Event-Id" }

const fire = (client: NatsClientService, topology: Topology.Topology, msg: JsMsg, due: number, target: string) => {
  const eventId = msg.headers?.get(header.eventId) ?? String(msg.seq)
  const h = headers()
  h.set(header.due, String(due))
  return attempt(`fire the scheduled event ${eventId}`, async () => {
    await client.jetstream.publish(target, msg.data, { msgID: `${eventId}@${due}`, headers: h })
    // Already gone if it was cancelled meanwhile.
    await client.manager.streams.deleteMessage(topology.streams.delay, msg.seq, false).catch(() => false)
    msg.ack()
  })
}

/**
 * Starts the scheduler of a prefix in this process; the returned effect stops it.
 *
 * @since 0.1.0
 */
export const start = (
  client: NatsClientService,
  topology: Topology.Topology,
  clock: Clock.Clock,
  ackWaitMs: number
): Effect.Effect<Effect.Effect<void>, NatsError> =>
  Effect.gen(function*() {
    yield* Topology.ensureConsumer(client, topology.streams.delay, topology.scheduler, topology.delayAll, ackWaitMs)
    const messages: ConsumerMessages = yield* attempt("consume the delay stream", async () => {
      const consumer = await client.jetstream.consumers.get(topology.streams.delay, topology.scheduler)
      return consumer.consume({ max_messages: 1_000 })
    })
    const iterator = messages[Symbol.asyncIterator]()
    const loop: Effect.Effect<void> = Effect.flatMap(Effect.promise(() => iterator.next()), (result) => {
      if (result.done === true) return Effect.void
      const msg = result.value
      const due = Number(msg.headers?.get(header.due))
      const target = msg.headers?.get(header.target) ?? ""
      if (!Number.isFinite(due) || !target.startsWith(`${topology.prefix}.work.`)) {
        msg.term("not a scheduled event")
        return Effect.zipRight(Effect.logWarning(`the delay stream held a malformed message (#${msg.seq})`), loop)
      }
      const wait = due - clock.unsafeCurrentTimeMillis()
      if (wait > 0) {
        msg.nak(wait)
        return loop
      }
      return Effect.zipRight(
        fire(client, topology, msg, due, target).pipe(
          Effect.catchAll((error) =>
            Effect.zipRight(Effect.logWarning(`${error.message}; trying again`), Effect.sync(() => msg.nak(1_000)))
          )
        ),
        loop
      )
    })
    const fiber = yield* Effect.forkDaemon(loop)
    return Effect.zipRight(
      Effect.promise(() => messages.close().catch(() => undefined)),
      Fiber.interrupt(fiber)
    ).pipe(Effect.asVoid)
  })
