/**
 * Event versioning. A journal row records the schema version its payload was written under; on
 * read, a payload older than the current version is upcast, one step at a time (v1 → v2 → v3), by
 * the registered upcasters. Old rows are never rewritten: the journal stays an honest record of
 * what was written, and a fix to an upcaster fixes every read.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"

/**
 * A payload as JSON: the event's own fields (title, content, reason), without its metadata.
 *
 * @since 0.1.0
 */
export type Payload = Readonly<Record<string, unknown>>

/**
 * An event as a journal row holds it, with its payload as JSON and the schema version it was
 * written under: the form in which rows of an older shape are imported or inspected.
 *
 * @since 0.1.0
 */
export interface StoredEvent {
  readonly position: number
  readonly documentId: string
  readonly version: number
  readonly eventId: string
  readonly eventType: string
  readonly schemaVersion: number
  /** Epoch milliseconds. */
  readonly occurredAt: number
  readonly actor: string
  readonly correlationId: string
  readonly causationId: string
  readonly payload: Payload
}

/**
 * One step of a chain: turns the payload of `eventType` stored at `fromVersion` into its shape at
 * `fromVersion + 1`. A pure function; it may rename, split, default or drop fields.
 *
 * @since 0.1.0
 */
export interface Upcaster {
  readonly eventType: string
  readonly fromVersion: number
  readonly upcast: (payload: Payload) => Payload
}

/**
 * The registered chains: which version each event type is written at, and how to bring an older
 * payload up to it.
 *
 * @since 0.1.0
 */
export interface Registry {
  /** The schema version new rows of this event type are written under (1 with no upcasters). */
  readonly currentVersion: (eventType: string) => number
  /** Brings a payload stored at `version` up to the current version, or says why it cannot. */
  readonly upcast: (eventType: string, version: number, payload: Payload) => Either.Either<Payload, string>
}

/**
 * Builds a registry. Each event type's steps must form one unbroken chain (from k to k+1, k+1 to
 * k+2, …); a gap or a duplicate is a programming error, thrown at once rather than found on the
 * first old row.
 *
 * @since 0.1.0
 */
export const make = (upcasters: Iterable<Upcaster>): Registry => {
  const chains = new Map<string, Map<number, Upcaster>>()
  for (const upcaster of upcasters) {
    const chain = chains.get(upcaster.eventType) ?? new Map<number, Upcaster>()
    if (chain.has(upcaster.fromVersion)) {
      throw new Error(`two upcasters for ${upcaster.eventType} from version ${upcaster.fromVersion}`)
    }
    chain.set(upcaster.fromVersion, upcaster)
    chains.set(upcaster.eventType, chain)
  }
  const current = new Map<string, { readonly oldest: number; readonly current: number }>()
  for (const [eventType, chain] of chains) {
    const versions = [...chain.keys()].sort((a, b) => a - b)
    const oldest = versions[0]!
    versions.forEach((version, i) => {
      if (version !== oldest + i) {
        throw new Error(`the upcasters of ${eventType} have no step from version ${oldest + i} to ${oldest + i + 1}`)
      }
    })
    current.set(eventType, { oldest, current: oldest + versions.length })
  }
  return {
    currentVersion: (eventType) => current.get(eventType)?.current ?? 1,
    upcast: (eventType, version, payload) => {
      const range = current.get(eventType) ?? { oldest: 1, current: 1 }
      if (version === range.current) return Either.right(payload)
      if (version > range.current) {
        return Either.left(
          `${eventType} schema version ${version} is newer than this program knows (${range.current}); upgrade it`
        )
      }
      if (version < range.oldest) {
        return Either.left(`no upcaster brings ${eventType} from schema version ${version} to ${range.oldest}`)
      }
      const chain = chains.get(eventType)!
      let upcast = payload
      for (let from = version; from < range.current; from++) upcast = chain.get(from)!.upcast(upcast)
      return Either.right(upcast)
    }
  }
}

/**
 * The registry journals read with. Unset, every event type is at version 1 and nothing is upcast.
 *
 * @since 0.1.0
 */
export class Upcasters extends Context.Reference<Upcasters>()("@nerv/store/Upcasters", {
  defaultValue: (): Registry => make([])
}) {}

/**
 * Registers upcasters for the journals built under this layer.
 *
 * @since 0.1.0
 */
export const layer = (upcasters: Iterable<Upcaster>): Layer.Layer<Upcasters> =>
  Layer.sync(Upcasters, () => make(upcasters))
