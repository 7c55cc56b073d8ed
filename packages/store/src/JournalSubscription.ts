/**
 * Subscriptions that must not miss events read the journal from a position rather than the live
 * bus: whatever the journal committed is there to read, even if the process crashed between the
 * commit and the publish. The subscriber keeps its own position (a checkpoint) and resumes from it.
 *
 * @since 0.1.0
 */
import type { Errors, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"

/**
 * @since 0.1.0
 */
export interface Options {
  /** Entries per page (one chunk of the stream); default 1000. */
  readonly pageSize?: number | undefined
  /** How long to wait, when caught up, before looking for new entries; default 50 ms. */
  readonly pollInterval?: number | undefined
}

/**
 * How a failed subscriber backs off before it reads again: exponentially, from 100 ms up to 5 s.
 *
 * @since 0.1.0
 */
export const retrySchedule = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds"))
)

/**
 * Every entry after `after`, then every entry committed later, forever: a page per chunk, in
 * position order, with no gap and no duplicate. When caught up it waits `pollInterval` and looks
 * again.
 *
 * @since 0.1.0
 */
export const fromPosition = (
  journal: Journal.JournalService,
  after: number,
  options?: Options
): Stream.Stream<Journal.JournalEntry, Errors.JournalError> => {
  const pageSize = options?.pageSize ?? 1_000
  const wait = Duration.millis(options?.pollInterval ?? 50)
  return Stream.paginateChunkEffect(after, (position) =>
    journal.read({ after: position, pageSize }).pipe(
      Stream.take(pageSize),
      Stream.runCollect,
      Effect.flatMap((page) =>
        Chunk.isEmpty(page)
          ? Effect.as(Effect.sleep(wait), [page, Option.some(position)] as const)
          : Effect.succeed([page, Option.some(Chunk.unsafeLast(page).position)] as const)
      )
    ))
}
