/**
 * The outbox: the side effects a command decides (notify the author, and whatever a host declares),
 * recorded as Schema-typed values in the same transaction as the command's events, then performed
 * at least once by the performers a layer registers. A crash or a failing performer between the
 * commit and the effect loses nothing: what was committed is in the outbox until performed.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Document } from "./Document.js"
import type { DocumentEvent } from "./DocumentEvent.js"
import type { JournalError } from "./Errors.js"

/**
 * A kind of side effect: a name (what the outbox stores and `nerv effects` lists) and the Schema of
 * its value (what it stores is the encoded value, JSON).
 *
 * @since 0.1.0
 */
export interface EffectType<A, I = A> {
  readonly name: string
  readonly schema: Schema.Schema<A, I>
}

/**
 * Declares an effect type.
 *
 * @since 0.1.0
 */
export const effectType = <A, I>(name: string, schema: Schema.Schema<A, I>): EffectType<A, I> => ({ name, schema })

/**
 * The built-in effect: tell a person that something happened to their document.
 *
 * @since 0.1.0
 */
export const Notify = effectType("notify", Schema.Struct({ to: Schema.String, message: Schema.String }))

/**
 * An effect a command decided, not yet recorded: its type and its encoded value.
 *
 * @since 0.1.0
 */
export interface Planned {
  readonly type: string
  readonly payload: unknown
}

/**
 * Plans an effect of a type (its value encoded by the type's Schema).
 *
 * @since 0.1.0
 */
export const plan = <A, I>(type: EffectType<A, I>, value: A): Planned => ({
  type: type.name,
  payload: Schema.encodeSync(type.schema)(value)
})

/**
 * An effect as a journal records it with a command's events. `id` is its idempotency key, derived
 * from the command (its first event's id and the effect's place among the command's effects), so a
 * repeat of the same effect always carries the same key.
 *
 * @since 0.1.0
 */
export interface Recorded {
  readonly id: string
  readonly type: string
  readonly payload: unknown
}

/**
 * The idempotency key of a command's `index`-th effect.
 *
 * @since 0.1.0
 */
export const effectId = (events: ReadonlyArray<DocumentEvent>, index: number): string =>
  `${events[0]!.eventId}:${index}`

/**
 * Where an effect is: waiting (or being retried), performed, or given up on (dead-lettered).
 *
 * @since 0.1.0
 */
export type Status = "pending" | "performed" | "dead"

/**
 * An effect as the outbox holds it.
 *
 * @since 0.1.0
 */
export interface EffectRecord {
  readonly id: string
  readonly type: string
  readonly documentId: string
  /** The document's version the command made. */
  readonly version: number
  readonly payload: unknown
  readonly status: Status
  /** How many times a performer took it (a crash while performing counts). */
  readonly attempts: number
  /** Epoch millis. */
  readonly recordedAt: number
  /** Not before this instant (epoch millis) is it tried again. */
  readonly availableAt: number
  readonly performedAt?: number | undefined
  readonly lastError?: string | undefined
}

/**
 * How many effects of one type are where, and since when the oldest pending one waits.
 *
 * @since 0.1.0
 */
export interface TypeCounts {
  readonly type: string
  readonly pending: number
  readonly performed: number
  readonly dead: number
  /** When the oldest pending effect was recorded (epoch millis), if any is pending. */
  readonly oldestPendingAt?: number | undefined
}

/**
 * What a claim asks for.
 *
 * @since 0.1.0
 */
export interface ClaimRequest {
  /** Who claims: only its claims can record a failure. */
  readonly owner: string
  /** The types it has performers for. */
  readonly types: ReadonlyArray<string>
  readonly limit: number
  /** Now (epoch millis). */
  readonly now: number
  /** Until when the claim holds (epoch millis): no one else takes the effect before. */
  readonly until: number
}

/**
 * @since 0.1.0
 */
export interface OutboxService {
  /**
   * Takes up to `limit` due pending effects that nobody holds (or whose claim expired), in the order
   * they were recorded, counting an attempt for each. One statement: two claimers never hold one
   * effect at once.
   */
  readonly claim: (request: ClaimRequest) => Effect.Effect<ReadonlyArray<EffectRecord>, JournalError>
  /** Records that these effects were performed (whoever held them). */
  readonly performed: (ids: ReadonlyArray<string>, now: number) => Effect.Effect<void, JournalError>
  /**
   * Records a failed attempt of an effect `owner` holds: it is tried again from `retryAt`, or, with
   * `retryAt` undefined, it goes to the dead letters.
   */
  readonly failed: (
    id: string,
    owner: string,
    failure: { readonly error: string; readonly retryAt: number | undefined }
  ) => Effect.Effect<void, JournalError>
  /** The effects in one state, oldest first, at most `limit` (default 100). */
  readonly list: (
    query: { readonly status: Status; readonly type?: string | undefined; readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<EffectRecord>, JournalError>
  /** Sends dead effects back to pending (all of them, or those with these ids), attempts reset. */
  readonly redrive: (
    ids: ReadonlyArray<string> | "all",
    now: number
  ) => Effect.Effect<number, JournalError>
  /**
   * The counts per type. With `pendingOnly`, only the pending ones are counted (cheap: what the
   * outbox metrics read), the others reported as 0.
   */
  readonly counts: (
    options?: { readonly pendingOnly?: boolean | undefined }
  ) => Effect.Effect<ReadonlyArray<TypeCounts>, JournalError>
  /** Completes when this process next records an effect (performers wait on it between polls). */
  readonly recorded: Effect.Effect<void>
}

/**
 * The outbox port. Layers live with the journals (`MemoryJournal`, `SqliteJournal`) in `@nerv/store`;
 * the performers in `@nerv/runtime`.
 *
 * @since 0.1.0
 */
export class Outbox extends Context.Tag("@nerv/core/Outbox")<Outbox, OutboxService>() {}

/**
 * What one committed command did, as a rule sees it.
 *
 * @since 0.1.0
 */
export interface Decided {
  /** The document after the command. */
  readonly state: Document
  /** The events the command committed (at least one). */
  readonly events: ReadonlyArray<DocumentEvent>
}

/**
 * A rule: the effects a command has.
 *
 * @since 0.1.0
 */
export type Rule = (decided: Decided) => ReadonlyArray<Planned>

/**
 * The built-in rule: an update that changed something, or a deletion, notifies the document's author.
 *
 * @since 0.1.0
 */
export const notifyAuthor: Rule = ({ events, state }) => {
  const last = events[events.length - 1]!
  switch (last._tag) {
    case "DocumentUpdated":
      return [plan(Notify, {
        to: state.author,
        message: `${last.actor} updated "${state.title}" (now version ${state.version})`
      })]
    case "DocumentDeleted":
      return [plan(Notify, { to: state.author, message: `${last.actor} deleted "${state.title}": ${last.reason}` })]
    default:
      return []
  }
}

/**
 * The rules the document programs apply to every command they commit. Without this service in
 * context, they apply `notifyAuthor` alone.
 *
 * @since 0.1.0
 */
export class Rules extends Context.Tag("@nerv/core/Outbox/Rules")<Rules, ReadonlyArray<Rule>>() {}

/**
 * The default rules: `notifyAuthor`.
 *
 * @since 0.1.0
 */
export const defaultRules: ReadonlyArray<Rule> = [notifyAuthor]

/**
 * The effects `rules` give a command, with their ids (see `effectId`).
 *
 * @since 0.1.0
 */
export const decide = (rules: ReadonlyArray<Rule>, decided: Decided): ReadonlyArray<Recorded> => {
  const recorded: Array<Recorded> = []
  for (const rule of rules) {
    for (const planned of rule(decided)) {
      recorded.push({ id: effectId(decided.events, recorded.length), type: planned.type, payload: planned.payload })
    }
  }
  return recorded
}
