/**
 * Where the NATS dispatcher keeps things: the names of its streams, consumers and subjects under
 * one prefix, and the calls that create them (idempotently, since every process does it at start).
 *
 * ```
 * <prefix>-work    <prefix>.work.p<lane>.<tag>     events to handle, one subject per priority lane and tag
 *                                                  (a handler reads one tag, or the whole lane)
 *                  <prefix>.redrive.<handler>      re-driven dead letters, for one handler
 * <prefix>-delay   <prefix>.delay.<event id>       delayed and scheduled events until they are due
 * <prefix>-dlq     <prefix>.dlq.<handler>          dead letters
 * ```
 */
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  DiscardPolicy,
  type JsMsg,
  RetentionPolicy,
  StorageType
} from "@nats-io/jetstream"
import * as Effect from "effect/Effect"
import { attempt, type NatsClientService, type NatsError } from "../nats/NatsClient.js"

/**
 * A name made safe for a subject token or a consumer name: kept as it is when it is plain
 * (letters, digits, `-`), otherwise `_` and its base64url. A plain name never starts with `_`, so
 * the two never collide.
 *
 * @since 0.1.0
 */
export const token = (name: string): string =>
  /^[A-Za-z0-9-]{1,100}$/.test(name) ? name : `_${Buffer.from(name, "utf8").toString("base64url")}`

const prefixPattern = /^[A-Za-z0-9-]{1,32}$/

/**
 * Whether a prefix can name streams and subjects.
 *
 * @since 0.1.0
 */
export const isPrefix = (prefix: string): boolean => prefixPattern.test(prefix)

const nanos = (millis: number) => Math.round(millis * 1e6)

/**
 * @since 0.1.0
 */
export interface StreamSettings {
  readonly storage: "file" | "memory"
  /** JetStream's duplicate window: a second message with the same id within it is dropped. */
  readonly duplicateWindowMs: number
  /** How long handled events stay in the work stream (0: until the limits below). */
  readonly maxAgeMs: number
  /** At most this many dead letters (the oldest go first). */
  readonly deadLetterCapacity: number
}

/**
 * The names under one prefix.
 *
 * @since 0.1.0
 */
export const make = (prefix: string) => {
  const streams = { work: `${prefix}-work`, delay: `${prefix}-delay`, deadLetters: `${prefix}-dlq` }
  const laneToken = (lane: number) => `p${lane}`
  return {
    prefix,
    streams,
    work: (lane: number, tag: string) => `${prefix}.work.${laneToken(lane)}.${token(tag)}`,
    /** Every tag of a lane. */
    lane: (lane: number) => `${prefix}.work.${laneToken(lane)}.*`,
    redrive: (handler: string) => `${prefix}.redrive.${token(handler)}`,
    delay: (eventId: string) => `${prefix}.delay.${token(eventId)}`,
    delayAll: `${prefix}.delay.>`,
    deadLetter: (handler: string) => `${prefix}.dlq.${token(handler)}`,
    /** A handler's consumer of a lane: of one tag, or (`*`) of all of them. */
    consumer: (handler: string, lane: number, tag: string) =>
      tag === "*" ? `${token(handler)}_${laneToken(lane)}` : `${token(handler)}_${laneToken(lane)}_${token(tag)}`,
    redriveConsumer: (handler: string) => `${token(handler)}_redrive`,
    scheduler: "scheduler"
  }
}

/**
 * @since 0.1.0
 */
export type Topology = ReturnType<typeof make>

const ensureStream = (
  client: NatsClientService,
  config: Parameters<NatsClientService["manager"]["streams"]["add"]>[0] & { readonly name: string }
) =>
  attempt(`create stream ${config.name}`, async () => {
    try {
      await client.manager.streams.info(config.name)
    } catch {
      try {
        await client.manager.streams.add(config)
      } catch (error) {
        // Another process created it between the two calls.
        await client.manager.streams.info(config.name).catch(() => Promise.reject(error))
      }
    }
  })

/**
 * Creates the three streams unless they exist (their settings are not changed if they do).
 *
 * @since 0.1.0
 */
export const ensureStreams = (
  client: NatsClientService,
  topology: Topology,
  settings: StreamSettings
): Effect.Effect<void, NatsError> => {
  const storage = settings.storage === "memory" ? StorageType.Memory : StorageType.File
  const common = { storage, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old }
  return Effect.all([
    ensureStream(client, {
      ...common,
      name: topology.streams.work,
      subjects: [`${topology.prefix}.work.>`, `${topology.prefix}.redrive.>`],
      duplicate_window: nanos(settings.duplicateWindowMs),
      max_age: nanos(settings.maxAgeMs)
    }),
    ensureStream(client, {
      ...common,
      name: topology.streams.delay,
      subjects: [topology.delayAll],
      duplicate_window: nanos(settings.duplicateWindowMs)
    }),
    ensureStream(client, {
      ...common,
      name: topology.streams.deadLetters,
      subjects: [`${topology.prefix}.dlq.>`],
      max_msgs: settings.deadLetterCapacity
    })
  ], { concurrency: "unbounded", discard: true })
}

/**
 * A durable pull consumer shared by every process that runs the handler: created if missing,
 * brought to this configuration if it differs.
 *
 * @since 0.1.0
 */
export const ensureConsumer = (
  client: NatsClientService,
  stream: string,
  name: string,
  filterSubject: string,
  ackWaitMs: number
): Effect.Effect<void, NatsError> => {
  const config: Partial<ConsumerConfig> = {
    durable_name: name,
    filter_subject: filterSubject,
    ack_policy: AckPolicy.Explicit,
    // A handler registered for the first time takes the events published from then on, as a
    // handler registered in one process does; later registrations resume where it is.
    deliver_policy: DeliverPolicy.New,
    ack_wait: nanos(ackWaitMs),
    // The dispatcher decides when to give up (the handler's retry schedule), not the server.
    max_deliver: -1,
    // Retries waiting for their delay count as pending acks; this keeps a backlog of them from
    // stopping new deliveries.
    max_ack_pending: 100_000
  }
  return attempt(`create consumer ${name} on ${stream}`, async () => {
    try {
      await client.manager.consumers.add(stream, config)
    } catch (error) {
      const existing = await client.manager.consumers.info(stream, name).catch(() => Promise.reject(error))
      if (existing.config.ack_wait !== config.ack_wait || existing.config.filter_subject !== filterSubject) {
        await client.manager.consumers.update(stream, name, {
          ack_wait: config.ack_wait!,
          max_ack_pending: config.max_ack_pending!
        })
      }
    }
  })
}

/**
 * Deletes the streams under a prefix (and so their consumers and messages). For tests and teardown.
 *
 * @since 0.1.0
 */
export const destroy = (client: NatsClientService, topology: Topology): Effect.Effect<void, NatsError> =>
  Effect.forEach(
    Object.values(topology.streams),
    (stream) => attempt(`delete stream ${stream}`, () => client.manager.streams.delete(stream).catch(() => false)),
    { discard: true }
  )

/**
 * Every message a stream holds now (under `filter`, if given), oldest first, through an ordered
 * consumer that goes away afterwards.
 *
 * @since 0.1.0
 */
export const readAll = (
  client: NatsClientService,
  stream: string,
  filter?: string
): Effect.Effect<ReadonlyArray<JsMsg>, NatsError> =>
  attempt(`read stream ${stream}`, async () => {
    const info = await client.manager.streams.info(stream)
    if (info.state.messages === 0) return []
    const consumer = await client.jetstream.consumers.get(
      stream,
      filter === undefined ? {} : { filter_subjects: filter }
    )
    const messages = await consumer.consume({ max_messages: 1_000 })
    // The stream may lose its last messages (deleted, purged) while this reads: stop waiting then.
    const deadline = setTimeout(() => void messages.close(), 5_000)
    const out: Array<JsMsg> = []
    try {
      for await (const message of messages) {
        out.push(message)
        if (message.info.pending === 0) break
      }
    } finally {
      clearTimeout(deadline)
      await messages.close()
    }
    return out
  })
