/**
 * The versioned store port: every version of every document. Recent versions are served from
 * memory; versions a snapshot took out of memory are read back from the journal. It is a view of
 * the journal: it holds only what the journal committed, and follows the journal by position, so
 * that what other processes commit reaches it too (every read and command first looks whether the
 * journal moved on; see docs/storage.md for the bound on staleness).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { Document, DocumentId } from "./Document.js"
import type { DocumentEvent } from "./DocumentEvent.js"
import type {
  DocumentForgotten,
  DocumentNotFound,
  JournalError,
  NotYetCreated,
  VersionConflict,
  VersionNotFound,
  VersionPruned
} from "./Errors.js"
import type { JournalEntry } from "./Journal.js"

/**
 * One version of a document: its state after `event`.
 *
 * @since 0.1.0
 */
export interface DocumentVersion {
  readonly version: number
  readonly document: Document
  readonly event: DocumentEvent
}

/**
 * One version without its content: what stays of a forgotten document's history.
 *
 * @since 0.1.0
 */
export interface VersionShape {
  readonly version: number
  readonly event: DocumentEvent["_tag"]
  readonly occurredAt: DateTime.Utc
  readonly actor: string
}

/**
 * Which documents `list` gives: after a cursor (`DocumentPage.next`), at most `limit` (default
 * 100), by one author, live (the default), deleted, or both.
 *
 * @since 0.1.0
 */
export interface ListQuery {
  readonly after?: string | undefined
  readonly limit?: number | undefined
  readonly author?: string | undefined
  readonly include?: "live" | "deleted" | "all" | undefined
}

/**
 * A page of `list`, and where the next one starts (`undefined`: this was the last).
 *
 * @since 0.1.0
 */
export interface DocumentPage {
  readonly documents: ReadonlyArray<Document>
  readonly next: string | undefined
}

/**
 * Every read of content fails with `DocumentForgotten` once the document was forgotten
 * (crypto-shredded): its content no longer exists. `shape` still reads its history's shape.
 *
 * @since 0.1.0
 */
export interface DocumentStoreService {
  /**
   * The latest state, deleted or not; `None` when the id was never created. What commands decide
   * on, so a forgotten document refuses every command.
   */
  readonly current: (id: DocumentId) => Effect.Effect<Option.Option<Document>, DocumentForgotten | JournalError>
  /** The latest state, deleted or not. */
  readonly get: (id: DocumentId) => Effect.Effect<Document, DocumentNotFound | DocumentForgotten | JournalError>
  /**
   * The state at one version. A version that left memory (a snapshot covers it) is read from the
   * journal, hence `JournalError`; one the retention policy removed fails with `VersionPruned`.
   */
  readonly getAt: (
    id: DocumentId,
    version: number
  ) => Effect.Effect<Document, DocumentNotFound | DocumentForgotten | VersionNotFound | VersionPruned | JournalError>
  /** The state at an instant: the latest version that happened at or before it. */
  readonly asOf: (
    id: DocumentId,
    instant: DateTime.Utc
  ) => Effect.Effect<Document, DocumentNotFound | DocumentForgotten | NotYetCreated | VersionPruned | JournalError>
  /**
   * Every version, oldest first (those that left memory are read from the journal); after pruning,
   * from the earliest version the retention policy kept.
   */
  readonly history: (
    id: DocumentId
  ) => Effect.Effect<ReadonlyArray<DocumentVersion>, DocumentNotFound | DocumentForgotten | JournalError>
  /**
   * Every version's shape (what happened, when, by whom; no content), oldest first, from the same
   * versions `history` reads. Readable whether or not the document was forgotten.
   */
  readonly shape: (id: DocumentId) => Effect.Effect<ReadonlyArray<VersionShape>, DocumentNotFound | JournalError>
  /**
   * Drops a document's content from memory after its key was destroyed: its versions keep their
   * shape, content reads fail `DocumentForgotten` from now on, and `list` leaves it out.
   */
  readonly forget: (id: DocumentId) => Effect.Effect<void, DocumentNotFound | JournalError>
  /**
   * A page of documents' latest states, in creation order: live ones (not deleted) by default,
   * never forgotten ones; `next` continues after the page. A page is read from the journal's index
   * of documents, not from memory, so it costs the same however many documents there are, and
   * paging neither skips nor repeats a document while others are written.
   */
  readonly list: (query?: ListQuery) => Effect.Effect<DocumentPage, JournalError>
  /**
   * Adds committed events. Each must be the next version of its document; otherwise nothing is
   * added and the call fails with `VersionConflict`.
   */
  readonly apply: (events: ReadonlyArray<DocumentEvent>) => Effect.Effect<void, VersionConflict>
  /**
   * Adds the entries this process has just committed (what `Journal.append` returned), at their
   * positions. An entry the view already followed from the journal is not added twice.
   */
  readonly committed: (entries: ReadonlyArray<JournalEntry>) => Effect.Effect<void>
  /**
   * Reads what the journal committed since the view last looked, now, even if nothing said it
   * moved on: what a command does after a refusal that a view behind the journal may explain.
   */
  readonly catchUp: Effect.Effect<void, JournalError>
  /**
   * Runs `effect` while no other writer in this process writes to the same document, so that
   * read-decide-commit-apply of one command is never interleaved with another's.
   */
  readonly serialized: <A, E, R>(id: DocumentId, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * The versioned store port. Its layer is `VersionedStore.layer` in `@nerv/store`.
 *
 * @since 0.1.0
 */
export class DocumentStore extends Context.Tag("@nerv/core/DocumentStore")<DocumentStore, DocumentStoreService>() {}
