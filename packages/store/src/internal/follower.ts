import type { Errors, Journal } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/**
 * How a store's view follows the journal by position: which positions it has taken into account,
 * and which documents the journal holds newer versions of than the view does.
 *
 * Following reads entry headers only (position, document, version): a header tells the view that a
 * document moved on, and the document's new versions are read (and their payloads decoded or
 * unsealed) when it is next read or written. So following costs a row of metadata per entry, not
 * the decoding of every other process's events.
 *
 * Every entry is taken into account once, in position order, whoever committed it: entries this
 * process committed are added by the write path at their positions (`committed`) and recognised by
 * their version when their headers come by; the others mark their document as behind.
 */
export interface Follower {
  /**
   * Reads the headers the journal committed since the view last looked, if its change token says
   * anyone else committed since then; a no-op (one cheap token read) otherwise.
   */
  readonly sync: Effect.Effect<void, Errors.JournalError>
  /** Reads the headers committed since the view last looked, whatever the token says. */
  readonly catchUp: Effect.Effect<void, Errors.JournalError>
  /** The latest version of a document the journal holds beyond the view, if the view is behind. */
  readonly behind: (documentId: string) => number | undefined
  /** The view now holds `latest` of this document: forget it was behind, unless it still is. */
  readonly caughtUp: (documentId: string, latest: number) => void
  /** The documents the view is behind on, in the order their headers came. */
  readonly allBehind: () => ReadonlyArray<string>
  /** This process committed the positions `first` to `last`, and the view holds them. */
  readonly committed: (first: number, last: number) => void
  /**
   * The view holds everything up to `position`, as of the change token `token`; the documents
   * recorded as forgotten so far are forgotten in it (without telling anyone: this is a start).
   */
  readonly resume: (position: number, token: number | undefined) => Effect.Effect<void, Errors.JournalError>
  /** The position the view has taken everything into account up to. */
  readonly position: () => number
}

/**
 * A follower of `journal` for a view whose latest version of a document `latestOf` tells.
 */
export const makeFollower = (
  journal: Journal.JournalService,
  latestOf: Effect.Effect<(documentId: string) => number>,
  /** A document was recorded as forgotten; `quietly` on a start, when nobody else holds anything yet. */
  onForgotten: (documentId: string, quietly: boolean) => Effect.Effect<void>
): Follower => {
  let followed = 0
  let forgottenAfter = 0
  let token: number | undefined
  /** Positions this process committed beyond `followed`: first → last. */
  const ahead = new Map<number, number>()
  const behind = new Map<string, number>()
  const lock = Effect.unsafeMakeSemaphore(1)

  const advance = () => {
    for (let end = ahead.get(followed + 1); end !== undefined; end = ahead.get(followed + 1)) {
      ahead.delete(followed + 1)
      followed = end
    }
  }

  const note = (headers: Iterable<Journal.EntryHeader>, latest: (documentId: string) => number) => {
    for (const header of headers) {
      if (header.position <= followed) continue
      ahead.delete(header.position)
      if (header.version > latest(header.documentId)) {
        behind.set(header.documentId, Math.max(behind.get(header.documentId) ?? 0, header.version))
      }
      followed = header.position
    }
    advance()
  }

  const forgotten = (quietly: boolean) =>
    Effect.flatMap(
      journal.readForgotten(forgottenAfter),
      (records) =>
        Effect.forEach(records, (record) =>
          Effect.zipRight(
            Effect.sync(() => (forgottenAfter = record.sequence)),
            onForgotten(record.documentId, quietly)
          ), { discard: true })
    )

  // The token is taken before the headers (whatever commits after it changes it again), and kept
  // only once they are in: a `sync` that finds it equal skips the lock, so it must not find the
  // token of a read still under way (nor of one that failed).
  const read = Effect.flatMap(journal.changeToken, (now) =>
    journal.readHeaders({ after: followed }).pipe(
      Stream.runForEachChunk((chunk) => Effect.map(latestOf, (latest) => note(chunk, latest))),
      Effect.zipRight(forgotten(false)),
      Effect.zipRight(Effect.sync(() => void (token = now)))
    ))

  return {
    sync: Effect.flatMap(
      journal.changeToken,
      (now) =>
        now === token ? Effect.void : lock.withPermits(1)(
          // Another fiber may have read them while this one waited for the lock.
          Effect.flatMap(journal.changeToken, (again) => again === token ? Effect.void : read)
        )
    ),
    catchUp: lock.withPermits(1)(read),
    behind: (documentId) => behind.get(documentId),
    caughtUp: (documentId, latest) => {
      const target = behind.get(documentId)
      if (target !== undefined && target <= latest) behind.delete(documentId)
    },
    allBehind: () => [...behind.keys()],
    committed: (first, last) => {
      if (first === followed + 1) {
        followed = last
        advance()
      } else if (first > followed) {
        ahead.set(first, last)
      }
    },
    resume: (position, at) =>
      Effect.suspend(() => {
        followed = position
        token = at
        return forgotten(true)
      }),
    position: () => followed
  }
}
