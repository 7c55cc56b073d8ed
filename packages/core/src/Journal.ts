/**
 * The journal port: the durable, append-only event log. An append is the one point of commit of a
 * command; everything else (the versioned store, the bus) follows from what the journal holds.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { DocumentId } from "./Document.js"
import type { DocumentEvent } from "./DocumentEvent.js"
import type { JournalBusy, JournalError, VersionConflict } from "./Errors.js"
import type * as Outbox from "./Outbox.js"

/**
 * One committed event and its global position. Positions start at 1, grow by one per event across
 * all documents, and never have gaps.
 *
 * @since 0.1.0
 */
export interface JournalEntry {
  readonly position: number
  readonly event: DocumentEvent
  /**
   * The entry was read without its content because its document was forgotten (crypto-shredded):
   * its event's metadata (version, time, actor, ids) is real, its title, content or reason blank.
   */
  readonly forgotten?: boolean | undefined
}

/**
 * What a follower needs to know of an entry without decoding its payload: where it is, which
 * document and version it made, and its event type.
 *
 * @since 0.1.0
 */
export interface EntryHeader {
  readonly position: number
  readonly documentId: DocumentId
  readonly version: number
  readonly eventType: DocumentEvent["_tag"]
}

/**
 * A document as the journal's index of documents knows it: kept in the same transaction as the
 * appends, so it is never behind a command that committed. `sequence` is its place in creation
 * order (the position of its first version).
 *
 * @since 0.1.0
 */
export interface DocumentSummary {
  readonly documentId: DocumentId
  readonly sequence: number
  readonly author: string
  readonly version: number
  readonly deleted: boolean
}

/**
 * Which documents to enumerate, in creation order: those after `after` (a `sequence`), at most
 * `limit`, by one author, live (the default: not deleted), deleted, or both. Forgotten documents are
 * never enumerated.
 *
 * @since 0.1.0
 */
export interface DocumentQuery {
  readonly after?: number | undefined
  readonly limit?: number | undefined
  readonly author?: string | undefined
  readonly include?: "live" | "deleted" | "all" | undefined
}

/**
 * A record that a document was forgotten, numbered in the order they were recorded.
 *
 * @since 0.1.0
 */
export interface ForgottenRecord {
  readonly sequence: number
  readonly documentId: DocumentId
}

/**
 * Where to read from and how much to fetch at a time.
 *
 * @since 0.1.0
 */
export interface ReadOptions {
  /** Read entries whose position is greater than this (a checkpoint). Default 0: from the start. */
  readonly after?: number | undefined
  /** How many entries to fetch per round trip. Adapters pick a sensible default. */
  readonly pageSize?: number | undefined
}

/**
 * @since 0.1.0
 */
export interface JournalService {
  /**
   * Appends the events of one command (one document, consecutive versions) atomically, if the
   * document is still at `expectedVersion` (0 for a new document); otherwise fails with
   * `VersionConflict` and writes nothing. Returns the committed entries. Fails with `JournalBusy`
   * when another process held the journal's write lock for longer than the journal waits.
   *
   * `effects` (the outbox, see `Outbox`) are recorded in the same transaction as the events, or not
   * at all: a journal that has no outbox must refuse them rather than drop them.
   */
  readonly append: (
    events: ReadonlyArray<DocumentEvent>,
    expectedVersion: number,
    effects?: ReadonlyArray<Outbox.Recorded>
  ) => Effect.Effect<ReadonlyArray<JournalEntry>, VersionConflict | JournalBusy | JournalError>
  /** Every entry after a position, in position order, fetched in pages. */
  readonly read: (options?: ReadOptions) => Stream.Stream<JournalEntry, JournalError>
  /**
   * Every entry's header after a position, in position order, fetched in pages: what a follower
   * reads to learn which documents changed, without decoding (or unsealing) a payload.
   */
  readonly readHeaders: (options?: ReadOptions) => Stream.Stream<EntryHeader, JournalError>
  /**
   * A cheap token that changes whenever someone else (another connection: another process, or
   * another node) may have committed since it was last read; this connection's own appends may
   * leave it unchanged. A follower reads it before anything else, and reads the journal only when it
   * changed. (SQLite: `PRAGMA data_version`; in memory: the appends of other connections.)
   */
  readonly changeToken: Effect.Effect<number, JournalError>
  /**
   * Waits until someone else may have committed (a notification from another node), or for `millis`
   * at most; whatever it says, `changeToken` decides. A journal that is told of others' commits has
   * it, and its followers wait on it instead of polling; the others (SQLite, memory) leave it out.
   */
  readonly awaitChange?: ((millis: number) => Effect.Effect<void>) | undefined
  /**
   * Records that a document was forgotten (its data key destroyed), so that every process following
   * the journal drops what it holds of its content. Recording one twice keeps the first.
   */
  readonly recordForgotten: (documentId: DocumentId) => Effect.Effect<void, JournalError>
  /** The documents recorded as forgotten after `after` (a sequence number of these records), oldest first. */
  readonly readForgotten: (after: number) => Effect.Effect<ReadonlyArray<ForgottenRecord>, JournalError>
  /** One document's entries, oldest first, from a version on (default 1). */
  readonly readDocument: (
    documentId: DocumentId,
    options?: { readonly fromVersion?: number | undefined }
  ) => Stream.Stream<JournalEntry, JournalError>
  /** The position of the last committed entry (0 when the journal is empty). */
  readonly head: Effect.Effect<number, JournalError>
  /** Enumerates the documents, from the index the appends keep (see `DocumentQuery`). */
  readonly documents: (query?: DocumentQuery) => Effect.Effect<ReadonlyArray<DocumentSummary>, JournalError>
}

/**
 * The journal port. Layers: `MemoryJournal.layer` (tests), and durable ones in `@nerv/store`.
 *
 * @since 0.1.0
 */
export class Journal extends Context.Tag("@nerv/core/Journal")<Journal, JournalService>() {}
