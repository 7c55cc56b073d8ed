/**
 * The expected failures of NERV's programs. Each has a `message` a person can act on.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import type * as ParseResult from "effect/ParseResult"
import { explain } from "./internal/explain.js"

/**
 * Input that does not match its Schema. `details` is the Schema's tree-formatted explanation.
 *
 * @since 0.1.0
 */
export class InvalidInput extends Data.TaggedError("InvalidInput")<{
  readonly operation: string
  readonly details: string
}> {
  /**
   * @since 0.1.0
   */
  static fromParseError(operation: string, error: ParseResult.ParseError): InvalidInput {
    return new InvalidInput({ operation, details: explain(error) })
  }
  override get message(): string {
    return `invalid input to ${this.operation}:\n${this.details}`
  }
}

/**
 * No document has this id.
 *
 * @since 0.1.0
 */
export class DocumentNotFound extends Data.TaggedError("DocumentNotFound")<{
  readonly documentId: string
}> {
  override get message(): string {
    return `document ${this.documentId} does not exist`
  }
}

/**
 * The document was deleted and takes no more changes.
 *
 * @since 0.1.0
 */
export class DocumentAlreadyDeleted extends Data.TaggedError("DocumentAlreadyDeleted")<{
  readonly documentId: string
  readonly deletedAt: DateTime.Utc
  readonly reason: string
}> {
  override get message(): string {
    return `document ${this.documentId} was deleted at ${
      DateTime.formatIso(this.deletedAt)
    } (${this.reason}); it can be read but not changed`
  }
}

/**
 * An optimistic-concurrency refusal: the document moved on since the caller last read it.
 *
 * @since 0.1.0
 */
export class VersionConflict extends Data.TaggedError("VersionConflict")<{
  readonly documentId: string
  readonly expected: number
  readonly actual: number
}> {
  override get message(): string {
    return `document ${this.documentId} is at version ${this.actual}, expected ${this.expected}; ` +
      `read it again and retry`
  }
}

/**
 * The document exists but never had this version.
 *
 * @since 0.1.0
 */
export class VersionNotFound extends Data.TaggedError("VersionNotFound")<{
  readonly documentId: string
  readonly version: number
  readonly latest: number
}> {
  override get message(): string {
    return `document ${this.documentId} has no version ${this.version}; its versions are 1 to ${this.latest}`
  }
}

/**
 * The journal (the durable event log) could not be reached or refused the write for a reason other
 * than a version conflict. Nothing was committed.
 *
 * @since 0.1.0
 */
export class JournalError extends Data.TaggedError("JournalError")<{
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `the journal failed: ${this.reason}`
  }
}

/**
 * Another process held the journal's write lock for longer than the journal waits for it (see
 * docs/storage.md, "Several processes"). Nothing was committed; the command can be retried.
 *
 * @since 0.1.0
 */
export class JournalBusy extends Data.TaggedError("JournalBusy")<{
  /** How long the append waited for the lock, in milliseconds. */
  readonly waitedMillis: number
  readonly cause?: unknown
}> {
  override get message(): string {
    return `the journal stayed locked by another process for ${this.waitedMillis} ms, so nothing was committed; ` +
      `retry, and look for a process holding a long write transaction on the database`
  }
}

/**
 * A notification could not be delivered.
 *
 * @since 0.1.0
 */
export class NotificationFailed extends Data.TaggedError("NotificationFailed")<{
  readonly to: string
  readonly reason: string
}> {
  override get message(): string {
    return `could not notify ${this.to}: ${this.reason}`
  }
}

/**
 * The document's data key was destroyed (crypto-shredding): its content is gone for good, its
 * history keeps only its shape (versions, times, actors).
 *
 * @since 0.1.0
 */
export class DocumentForgotten extends Data.TaggedError("DocumentForgotten")<{
  readonly documentId: string
}> {
  override get message(): string {
    return `document ${this.documentId} was forgotten at its owner's request; its content no longer exists`
  }
}

/**
 * A journal row that cannot be read back: its payload does not decode, decrypt or match its
 * schema, or its clear columns are not what NERV writes. Names the row by its position, document and
 * version, so that it can be found, restored from a backup, or reported; other rows are not affected.
 *
 * @since 0.1.0
 */
export class RowDamaged extends Data.TaggedError("RowDamaged")<{
  readonly position: number
  readonly documentId: string
  readonly version: number
  readonly reason: string
  /** What reading it failed with, when that was an error of its own (`PayloadCodec.PayloadCorrupt`, `DecryptionFailed`). */
  readonly cause?: unknown
}> {
  override get message(): string {
    return `the journal row at position ${this.position} (document ${this.documentId}, version ${this.version}) ` +
      `is damaged: ${this.reason}`
  }
}

/**
 * A document was asked for as of an instant before it was created.
 *
 * @since 0.1.0
 */
export class NotYetCreated extends Data.TaggedError("NotYetCreated")<{
  readonly documentId: string
  readonly instant: DateTime.Utc
  readonly createdAt: DateTime.Utc
}> {
  override get message(): string {
    return `document ${this.documentId} did not exist yet at ${DateTime.formatIso(this.instant)}; ` +
      `it was created at ${DateTime.formatIso(this.createdAt)}`
  }
}

/**
 * The version was removed from the journal by the retention policy (see docs/storage.md); the
 * document's history is kept from `earliest` on.
 *
 * @since 0.1.0
 */
export class VersionPruned extends Data.TaggedError("VersionPruned")<{
  readonly documentId: string
  readonly version: number
  readonly earliest: number
}> {
  override get message(): string {
    return `version ${this.version} of document ${this.documentId} was pruned by the retention policy; ` +
      `its history is kept from version ${this.earliest} on`
  }
}
