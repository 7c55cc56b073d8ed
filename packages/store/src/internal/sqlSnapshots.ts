import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Errors } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { CheckpointsService } from "../Checkpoints.js"
import { PayloadCodec, type PayloadCodecService, type PayloadError } from "../PayloadCodec.js"
import { DocumentJson, type RebuildItem, type Snapshot, type SnapshotStoreService } from "../Snapshots.js"
import { Upcasters } from "../Upcasting.js"
import { decodeEntries, type EventRow } from "./eventRow.js"
import { placeholderDocument } from "./forgotten.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const encodeDocument = Schema.encodeSync(DocumentJson)
const decodeDocument = Schema.decodeUnknownEither(DocumentJson)

const failed = (reason: string) => (cause: unknown) => new Errors.JournalError({ reason, cause })
/** The largest version a `version` column (a 32-bit integer in PostgreSQL) holds. */
const maxVersion = 2_147_483_647
const toBlob = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

interface SnapshotRow {
  readonly document_id: string
  readonly version: number
  readonly encoding: string
  readonly state: Uint8Array
}

const isForgottenError = (error: PayloadError) => error._tag === "DocumentForgotten"

/**
 * A snapshot's state, or `undefined` when its document was forgotten (its data key destroyed): a
 * forgotten document's snapshots are skipped, and its versions come from the events' clear columns.
 */
const decodeSnapshot = (
  codec: PayloadCodecService,
  row: SnapshotRow
): Effect.Effect<Snapshot | undefined, Errors.JournalError> =>
  codec.decode({ encoding: row.encoding, data: row.state }, { documentId: row.document_id, version: row.version })
    .pipe(
      Effect.map((bytes): Uint8Array | undefined => bytes),
      Effect.catchIf(isForgottenError, () => Effect.succeed(undefined)),
      Effect.mapError((error) => new Errors.JournalError({ reason: error.message, cause: error })),
      Effect.flatMap((bytes) =>
        bytes === undefined ? Effect.succeed(undefined) : Effect.mapError(
          decodeDocument(decoder.decode(bytes)),
          failed(`the snapshot of document ${row.document_id} at version ${row.version} is unreadable`)
        ).pipe(Effect.map((document) => ({ documentId: row.document_id, version: row.version, document })))
      )
    )

interface DocumentPageRow extends Partial<SnapshotRow> {
  readonly seq: number
  readonly id: string
}

type Cursor =
  | { readonly _tag: "NextPage"; readonly afterSeq: number }
  | {
    readonly _tag: "InPage"
    readonly documents: ReadonlyArray<DocumentPageRow>
    readonly next: number
    readonly seq: number
    readonly version: number
  }

/**
 * Snapshots in the journal database (SQLite or PostgreSQL: the statements are the `SqlClient`'s,
 * written in the SQL both speak). A rebuild walks the documents in creation order, a page at a
 * time; for each page it reads the snapshots, then the events after them through the
 * (document, version) index, so it never reads an event a snapshot covers.
 */
export const makeSqlSnapshots = Effect.fnUntraced(function*(pageSize: number) {
  const sql = yield* SqlClient.SqlClient
  const codec = yield* PayloadCodec
  const upcasters = yield* Upcasters

  const save = (snapshots: ReadonlyArray<Snapshot>) =>
    Effect.forEach(snapshots, (snapshot) =>
      Effect.flatMap(
        Effect.mapError(
          codec.encode(encoder.encode(encodeDocument(snapshot.document)), snapshot),
          (error) => new Errors.JournalError({ reason: error.message, cause: error })
        ),
        (state) =>
          sql`INSERT INTO nerv_snapshots (document_id, version, taken_at, encoding, state)
            VALUES (${snapshot.documentId}, ${snapshot.version}, ${Date.now()}, ${state.encoding}, ${
            toBlob(state.data)
          })
            ON CONFLICT (document_id, version) DO NOTHING`
      )).pipe(
        sql.withTransaction,
        Effect.mapError((error) =>
          error._tag === "JournalError" ? error : failed("could not save snapshots")(error as SqlError)
        ),
        Effect.asVoid
      )

  const at = (documentId: string, version: number) =>
    sql<SnapshotRow>`SELECT document_id, version, encoding, state FROM nerv_snapshots
      WHERE document_id = ${documentId} AND version <= ${Math.min(version, maxVersion)}
      ORDER BY version DESC LIMIT 1`.pipe(
      Effect.mapError(failed("could not read snapshots")),
      Effect.flatMap((rows) =>
        rows.length === 0 ? Effect.succeedNone : Effect.map(decodeSnapshot(codec, rows[0]!), Option.fromNullable)
      )
    )

  /** The entries a snapshot covers, for a forgotten document whose snapshot cannot be opened. */
  const coveredEntries = (documentId: string, version: number) =>
    sql<EventRow>`SELECT * FROM nerv_events WHERE document_id = ${documentId} AND version <= ${version}
      ORDER BY version`.pipe(
      Effect.mapError(failed("could not read the journal")),
      Effect.flatMap((rows) => decodeEntries(rows, codec, upcasters))
    )

  const step = (size: number) =>
  (cursor: Cursor): Effect.Effect<
    readonly [Chunk.Chunk<RebuildItem>, Option.Option<Cursor>],
    Errors.JournalError
  > => {
    if (cursor._tag === "NextPage") {
      return sql<DocumentPageRow>`SELECT d.seq AS seq, d.document_id AS id, s.document_id, s.version, s.encoding,
         s.state FROM nerv_documents d LEFT JOIN nerv_snapshots s ON s.document_id = d.document_id
           AND s.version = (SELECT max(version) FROM nerv_snapshots l WHERE l.document_id = d.document_id)
         WHERE d.seq > ${cursor.afterSeq} ORDER BY d.seq LIMIT ${size}`.pipe(
        Effect.mapError(failed("could not read the documents")),
        Effect.map((documents) =>
          documents.length === 0 ?
            [Chunk.empty(), Option.none()] as const :
            [
              Chunk.empty(),
              Option.some<Cursor>({ _tag: "InPage", documents, next: 0, seq: documents[0]!.seq, version: 0 })
            ] as const
        )
      )
    }
    const { documents } = cursor
    const lastSeq = documents[documents.length - 1]!.seq
    return sql<EventRow & { readonly seq: number }>`SELECT d.seq AS seq, e.* FROM nerv_documents d
       JOIN nerv_events e ON e.document_id = d.document_id
       WHERE d.seq >= ${cursor.seq} AND d.seq <= ${lastSeq}
         AND e.version > coalesce((SELECT max(s.version) FROM nerv_snapshots s WHERE s.document_id = d.document_id), 0)
         AND (d.seq > ${cursor.seq} OR e.version > ${cursor.version})
       ORDER BY d.seq, e.version LIMIT ${size}`.pipe(
      Effect.mapError(failed("could not read the journal")),
      Effect.flatMap((rows) => Effect.map(decodeEntries(rows, codec, upcasters), (entries) => ({ rows, entries }))),
      Effect.flatMap(({ entries, rows }) =>
        Effect.gen(function*() {
          const items: Array<RebuildItem> = []
          let next = cursor.next
          const snapshotsUpTo = function*(seq: number) {
            while (next < documents.length && documents[next]!.seq <= seq) {
              const document = documents[next++]!
              if (document.document_id != null) {
                const snapshot = yield* decodeSnapshot(codec, document as SnapshotRow)
                if (snapshot !== undefined) {
                  items.push({ _tag: "Snapshot", snapshot })
                } else {
                  // Forgotten: the versions the snapshot covers come from their events instead, or,
                  // when retention pruned them, from a placeholder without content at its version.
                  const covered = yield* coveredEntries(document.id, document.version!)
                  if (covered[0]?.event.version === 1) {
                    for (const entry of covered) items.push({ _tag: "Entry", entry })
                  } else {
                    const at = covered.find((entry) => entry.event.version === document.version)?.event
                    items.push({
                      _tag: "Snapshot",
                      snapshot: {
                        documentId: document.id,
                        version: document.version!,
                        document: placeholderDocument(document.id, document.version!, at)
                      }
                    })
                  }
                }
              }
            }
          }
          for (let i = 0; i < rows.length; i++) {
            yield* snapshotsUpTo(rows[i]!.seq)
            items.push({ _tag: "Entry", entry: entries[i]! })
          }
          if (rows.length < size) {
            yield* snapshotsUpTo(lastSeq)
            return [Chunk.unsafeFromArray(items), Option.some<Cursor>({ _tag: "NextPage", afterSeq: lastSeq })] as const
          }
          const last = rows[rows.length - 1]!
          return [
            Chunk.unsafeFromArray(items),
            Option.some<Cursor>({ _tag: "InPage", documents, next, seq: last.seq, version: last.version })
          ] as const
        })
      )
    )
  }

  return {
    save,
    latest: (documentId) => at(documentId, Number.MAX_SAFE_INTEGER),
    at,
    rebuild: (options) =>
      Stream.paginateChunkEffect<Cursor, RebuildItem, Errors.JournalError, never>(
        { _tag: "NextPage", afterSeq: 0 },
        step(options?.pageSize ?? pageSize)
      ),
    documentCount: sql<{ readonly count: number }>`SELECT count(*) AS count FROM nerv_documents`.pipe(
      Effect.mapError(failed("could not count the documents")),
      Effect.map(([row]) => row!.count)
    ),
    groupedByDocument: true,
    clear: sql<{ readonly removed: number }>`DELETE FROM nerv_snapshots
      WHERE document_id IN (SELECT document_id FROM nerv_events WHERE version = 1) RETURNING 1 AS removed`.pipe(
      Effect.map((rows) => rows.length),
      Effect.mapError(failed("could not remove snapshots"))
    )
  } satisfies SnapshotStoreService
})

interface CheckpointRow {
  readonly position: number
  readonly encoding: string
  readonly state: Uint8Array
}

/**
 * Projection checkpoints in the journal database: the state and the position it reflects are one
 * row, so they are written in one statement and can never disagree.
 */
export const makeSqlCheckpoints = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const codec = yield* PayloadCodec
  const rowOf = (name: string, position: number) => ({ documentId: `projection:${name}`, version: position })
  return {
    load: (name) =>
      sql<CheckpointRow>`SELECT position, encoding, state FROM nerv_projections WHERE name = ${name}`.pipe(
        Effect.mapError(failed(`could not read the checkpoint of projection ${name}`)),
        Effect.flatMap((rows) => {
          const row = rows[0]
          if (row === undefined) return Effect.succeedNone
          return codec.decode({ encoding: row.encoding, data: row.state }, rowOf(name, row.position)).pipe(
            Effect.mapError((error) => new Errors.JournalError({ reason: error.message, cause: error })),
            Effect.flatMap((bytes) =>
              Effect.try({
                try: () => Option.some({ position: row.position, state: JSON.parse(decoder.decode(bytes)) as unknown }),
                catch: failed(`the checkpoint of projection ${name} is not JSON`)
              })
            )
          )
        })
      ),
    save: (name, checkpoint) =>
      codec.encode(encoder.encode(JSON.stringify(checkpoint.state)), rowOf(name, checkpoint.position)).pipe(
        Effect.mapError((error) => new Errors.JournalError({ reason: error.message, cause: error })),
        Effect.flatMap((state) =>
          sql`INSERT INTO nerv_projections (name, position, encoding, state, updated_at)
            VALUES (${name}, ${checkpoint.position}, ${state.encoding}, ${toBlob(state.data)}, ${Date.now()})
            ON CONFLICT (name) DO UPDATE SET position = excluded.position, encoding = excluded.encoding,
            state = excluded.state, updated_at = excluded.updated_at`.pipe(
            Effect.mapError(failed(`could not save the checkpoint of projection ${name}`))
          )
        ),
        Effect.asVoid
      )
  } satisfies CheckpointsService
})
