/**
 * The group commit the durable journals share (SQLite and PostgreSQL): `append` encodes a command's
 * rows and queues it; one fiber takes up to `maxBatch` queued commands at a time and hands them to
 * the journal's `commit`, which writes them in one transaction and answers each command; the
 * commands still queued when the journal closes are refused. What differs between the journals (how
 * a group is written, what a busy lock or a lost connection does) is their `commit`.
 */
import { Errors, type Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { PayloadCodecService } from "../PayloadCodec.js"
import type * as Upcasting from "../Upcasting.js"
import { checkBatch } from "./appendCheck.js"
import { encodeEvent } from "./eventRow.js"
import { encodeEffects } from "./outboxRows.js"
import type { Outcome, PendingAppend } from "./sqliteWriter.js"

/** How an append can fail once its batch is well formed. */
export type AppendError = Errors.VersionConflict | Errors.JournalBusy | Errors.JournalError

/** A command waiting in the group commit. */
export interface Pending extends PendingAppend {
  /**
   * Gives the command its result, resuming the fiber that waits in `append` (a callback rather than
   * a `Deferred`, whose allocation showed on the path every durable command takes).
   */
  readonly reply: (result: Effect.Effect<ReadonlyArray<Journal.JournalEntry>, AppendError>) => void
}

/** Answers each command of a group with its outcome; whether any committed one recorded outbox effects. */
export const settle = (group: ReadonlyArray<Pending>, outcomes: ReadonlyArray<Outcome>): boolean => {
  let recorded = false
  for (let i = 0; i < group.length; i++) {
    const [pending, outcome] = [group[i]!, outcomes[i]!]
    if (outcome._tag === "Committed" && pending.effects !== undefined) recorded = true
    pending.reply(
      outcome._tag === "Committed"
        ? Effect.succeed(outcome.entries)
        : Effect.fail(
          new Errors.VersionConflict({
            documentId: pending.documentId,
            expected: pending.expectedVersion,
            actual: outcome.actual
          })
        )
    )
  }
  return recorded
}

/** Answers every command of a group with the same failure. */
export const refuse = (group: ReadonlyArray<Pending>, error: AppendError): void => {
  const failed = Effect.fail(error)
  for (const pending of group) pending.reply(failed)
}

/**
 * Starts the writer in the scope and returns the journal's `append`. `commit` writes a group and
 * answers each of its commands; `more(n)` gives it up to `n` commands that queued meanwhile (a group
 * that waits for a lock takes them in). A group once taken is committed uninterruptibly, so its
 * commands get their results before the writer stops.
 */
export const start = (options: {
  readonly maxBatch: number
  readonly codec: PayloadCodecService
  readonly upcasters: Upcasting.Registry
  readonly commit: (
    group: Array<Pending>,
    more: (count: number) => Effect.Effect<Chunk.Chunk<Pending>>
  ) => Effect.Effect<void>
}): Effect.Effect<Journal.JournalService["append"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const { codec, commit, maxBatch, upcasters } = options
    const queue = yield* Effect.acquireRelease(Queue.unbounded<Pending>(), Queue.shutdown)
    // On close (after the writer stopped): the commands still queued are refused, not left waiting.
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(
        Queue.takeAll(queue),
        (pending) =>
          Effect.sync(() =>
            refuse(
              Chunk.toReadonlyArray(pending),
              new Errors.JournalError({ reason: "the journal closed before the append" })
            )
          )
      )
    )
    const more = (count: number) => Queue.takeUpTo(queue, Math.max(0, count))
    yield* Queue.takeBetween(queue, 1, maxBatch).pipe(
      Effect.flatMap((group) => Effect.uninterruptible(commit(Chunk.toArray(group), more))),
      Effect.forever,
      Effect.forkScoped
    )

    return (events, expectedVersion, effects) =>
      Effect.suspend(() => {
        const invalid = checkBatch(events, expectedVersion)
        if (invalid !== undefined) return Effect.fail(invalid)
        return Effect.flatMap(
          Effect.zip(
            Effect.forEach(events, (event) => encodeEvent(event, codec, upcasters)),
            effects === undefined || effects.length === 0
              ? Effect.succeed(undefined)
              : encodeEffects(effects, events[events.length - 1]!, codec)
          ),
          ([rows, effectRows]) =>
            Effect.async<ReadonlyArray<Journal.JournalEntry>, AppendError>((reply) => {
              const pending = {
                documentId: events[0]!.documentId,
                expectedVersion,
                events,
                rows,
                effects: effectRows,
                reply
              }
              // An unbounded queue refuses only once shut down: the journal is closed.
              if (!queue.unsafeOffer(pending)) {
                reply(Effect.fail(new Errors.JournalError({ reason: "the journal is closed" })))
              }
            })
        )
      })
  })
