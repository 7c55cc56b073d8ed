/**
 * The NATS dispatcher's dead letters: a durable stream, one subject per handler, that any process
 * can list and re-drive. A letter is the event with its handler, priority, attempts, time and
 * cause, sealed. A message no process could open is kept as it came (its bytes, with the reason in
 * a header), so that a process holding the key can still read it, list it and re-drive it.
 */
import type { JsMsg } from "@nats-io/jetstream"
import { headers } from "@nats-io/transport-node"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { DeadLetter } from "../Dispatcher.js"
import { attempt, type NatsClientService, type NatsError } from "../nats/NatsClient.js"
import type { Codec, MessageUnreadable } from "../security/BusCodec.js"
import * as Topology from "./natsTopology.js"
import { RemoteFailure, type WorkEnvelope } from "./natsWire.js"

/**
 * A dead letter as it is sealed.
 *
 * @since 0.1.0
 */
export interface DeadLetterRecord<A> {
  readonly event: A
  readonly handler: string
  readonly priority: number
  readonly attempts: number
  readonly failedAt: number
  readonly cause: Cause.Cause<unknown>
}

/**
 * What reading and writing dead letters needs.
 *
 * @since 0.1.0
 */
export interface Wiring<A> {
  readonly client: NatsClientService
  readonly topology: Topology.Topology
  readonly work: Codec<WorkEnvelope<A>>
  readonly deadLetters: Codec<DeadLetterRecord<A>>
  readonly onUnreadable: (error: MessageUnreadable) => Effect.Effect<void>
}

const header = {
  handler: "Nerv-Handler",
  eventId: "Nerv-Event-Id",
  unreadable: "Nerv-Unreadable",
  attempts: "Nerv-Attempts",
  failedAt: "Nerv-Failed-At"
}

/**
 * Seals a dead letter into the stream and waits for the server to have it.
 *
 * @since 0.1.0
 */
export const publish = <A>(
  wiring: Wiring<A>,
  record: DeadLetterRecord<A>,
  eventId: string
): Effect.Effect<void, NatsError> =>
  Effect.flatMap(wiring.deadLetters.encode(record), (bytes) => {
    const h = headers()
    h.set(header.handler, record.handler)
    h.set(header.eventId, eventId)
    return attempt(
      "keep a dead letter",
      () => wiring.client.jetstream.publish(wiring.topology.deadLetter(record.handler), bytes, { headers: h })
    )
  })

/**
 * Keeps a work message this process could not open, as it came.
 *
 * @since 0.1.0
 */
export const keepUnreadable = <A>(
  wiring: Wiring<A>,
  handler: string,
  msg: JsMsg,
  reason: string,
  attempts: number,
  failedAt: number
): Effect.Effect<void, NatsError> => {
  const h = headers()
  h.set(header.handler, handler)
  h.set(header.unreadable, reason.slice(0, 200).replace(/[\r\n]+/g, " "))
  h.set(header.attempts, String(attempts))
  h.set(header.failedAt, String(failedAt))
  return attempt(
    "keep an unreadable message",
    () => wiring.client.jetstream.publish(wiring.topology.deadLetter(handler), msg.data, { headers: h })
  )
}

const fromUnreadable = <A>(wiring: Wiring<A>, msg: JsMsg, reason: string) =>
  Effect.map(
    Effect.either(wiring.work.decode(msg.data)),
    Either.map((envelope): DeadLetter<A> => ({
      id: msg.seq,
      event: envelope.event,
      handler: msg.headers?.get(header.handler) ?? "",
      priority: envelope.priority,
      cause: Cause.fail(new RemoteFailure("MessageUnreadable", reason)),
      attempts: Number(msg.headers?.get(header.attempts) ?? 0),
      failedAt: DateTime.unsafeMake(Number(msg.headers?.get(header.failedAt) ?? 0))
    }))
  )

const fromRecord = <A>(wiring: Wiring<A>, msg: JsMsg) =>
  Effect.map(
    Effect.either(wiring.deadLetters.decode(msg.data)),
    Either.map((record): DeadLetter<A> => ({
      id: msg.seq,
      event: record.event,
      handler: record.handler,
      priority: record.priority,
      cause: record.cause,
      attempts: record.attempts,
      failedAt: DateTime.unsafeMake(record.failedAt)
    }))
  )

/**
 * Every dead letter, oldest first; its id is its sequence in the stream. Letters this process
 * cannot open are reported to `onUnreadable` and left out.
 *
 * @since 0.1.0
 */
export const read = <A>(wiring: Wiring<A>): Effect.Effect<ReadonlyArray<DeadLetter<A>>, NatsError> =>
  Effect.gen(function*() {
    const messages = yield* Topology.readAll(wiring.client, wiring.topology.streams.deadLetters)
    const out: Array<DeadLetter<A>> = []
    for (const msg of messages) {
      const reason = msg.headers?.get(header.unreadable) ?? ""
      const letter = yield* (reason !== "" ? fromUnreadable(wiring, msg, reason) : fromRecord(wiring, msg))
      if (Either.isLeft(letter)) yield* wiring.onUnreadable(letter.left)
      else out.push(letter.right)
    }
    return out
  })

/**
 * Queues letters again for their handlers (on each handler's re-drive subject, which only that
 * handler's consumer reads), then deletes them. A letter whose handler has never been registered
 * on the prefix stays. Returns how many were re-driven.
 *
 * @since 0.1.0
 */
export const redrive = <A>(
  wiring: Wiring<A>,
  letters: ReadonlyArray<DeadLetter<A>>,
  now: number
): Effect.Effect<number, NatsError> =>
  Effect.gen(function*() {
    const { client, topology } = wiring
    const registered = new Map<string, boolean>()
    let count = 0
    for (const letter of letters) {
      if (!registered.has(letter.handler)) {
        const exists = yield* attempt("look up a handler", () =>
          client.manager.consumers.info(topology.streams.work, topology.redriveConsumer(letter.handler)).then(
            () =>
              true,
            () => false
          ))
        registered.set(letter.handler, exists)
      }
      if (!registered.get(letter.handler)) {
        continue
      }
      const body = yield* wiring.work.encode({ event: letter.event, priority: letter.priority, publishedAt: now })
      yield* attempt("re-drive a dead letter", async () => {
        // The id makes a re-drive that is repeated after a failure between the two calls harmless.
        await client.jetstream.publish(topology.redrive(letter.handler), body, {
          msgID: `redrive-${topology.prefix}-${letter.id}`
        })
        await client.manager.streams.deleteMessage(topology.streams.deadLetters, letter.id, false)
      })
      count++
    }
    return count
  })
