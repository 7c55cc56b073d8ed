/**
 * A read-only scan of a SQLite or PostgreSQL journal for damage: every event row and every snapshot is read and
 * decoded on its own, a page at a time, and each one that would not read back is reported by its
 * position (or document and version) with the reason. One damaged row does not stop the scan, and
 * nothing is written: run it on a connection opened read-only (`nerv verify` does).
 *
 * ```ts
 * const report = yield* JournalVerify.scan({ onDamaged: (row) => Console.log(row.message) })
 * ```
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Errors } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { checkRow, type EventRow, fromValues, selectList } from "./internal/eventRow.js"
import {
  decodeAll,
  type DecryptionFailed,
  PayloadCodec,
  type PayloadCodecService,
  type PayloadCorrupt
} from "./PayloadCodec.js"
import { DocumentJson } from "./Snapshots.js"
import { Upcasters } from "./Upcasting.js"

/**
 * A snapshot that would not read back (a rebuild starting from it would fail).
 *
 * @since 0.1.0
 */
export interface DamagedSnapshot {
  readonly documentId: string
  readonly version: number
  readonly reason: string
}

/**
 * A document whose versions in the journal have a hole: rows between its oldest and newest kept
 * versions are missing.
 *
 * @since 0.1.0
 */
export interface MissingVersions {
  readonly documentId: string
  readonly oldest: number
  readonly newest: number
  readonly rows: number
}

/**
 * One finding of a scan.
 *
 * @since 0.1.0
 */
export type Finding =
  | { readonly _tag: "Row"; readonly row: Errors.RowDamaged }
  | { readonly _tag: "Snapshot"; readonly snapshot: DamagedSnapshot }
  | { readonly _tag: "Gap"; readonly gap: MissingVersions }

/**
 * What a scan read and found.
 *
 * @since 0.1.0
 */
export interface Report {
  readonly rows: number
  readonly snapshots: number
  readonly damagedRows: number
  readonly damagedSnapshots: number
  readonly documentsWithGaps: number
}

/**
 * Whether a scan found anything.
 *
 * @since 0.1.0
 */
export const isClean = (report: Report): boolean =>
  report.damagedRows === 0 && report.damagedSnapshots === 0 && report.documentsWithGaps === 0

/**
 * What a finding says, in one line, for a person.
 *
 * @since 0.1.0
 */
export const describe = (finding: Finding): string => {
  switch (finding._tag) {
    case "Row":
      return finding.row.message
    case "Snapshot":
      return `the snapshot of document ${finding.snapshot.documentId} at version ${finding.snapshot.version} ` +
        `is damaged: ${finding.snapshot.reason}`
    case "Gap":
      return `document ${finding.gap.documentId} has ${finding.gap.rows} rows for its versions ` +
        `${finding.gap.oldest} to ${finding.gap.newest}: ${
          finding.gap.newest - finding.gap.oldest + 1 - finding.gap.rows
        } missing`
  }
}

const journalError = (reason: string) => (cause: unknown) => new Errors.JournalError({ reason, cause })
const decoder = new TextDecoder()
const decodeDocument = Schema.decodeUnknownEither(DocumentJson)

interface SnapshotRow {
  readonly document_id: unknown
  readonly version: unknown
  readonly encoding: unknown
  readonly state: unknown
}

/** Checks one snapshot on its own, as a rebuild would read it; a forgotten document's is skipped there too. */
const checkSnapshot = (
  codec: PayloadCodecService,
  row: SnapshotRow
): Effect.Effect<DamagedSnapshot | undefined> => {
  const damaged = (reason: string): DamagedSnapshot => ({
    documentId: String(row.document_id),
    version: Number(row.version),
    reason
  })
  if (
    typeof row.document_id !== "string" || !Number.isSafeInteger(row.version) || typeof row.encoding !== "string" ||
    !(row.state instanceof Uint8Array)
  ) return Effect.succeed(damaged("its columns are not what NERV writes"))
  const ref = { documentId: row.document_id, version: row.version as number }
  return codec.decode({ encoding: row.encoding, data: row.state }, ref).pipe(
    Effect.map((bytes) => {
      try {
        return Either.match(decodeDocument(decoder.decode(bytes)), {
          onLeft: () => damaged("its state is not a document"),
          onRight: (document) =>
            document.id === ref.documentId && document.version === ref.version
              ? undefined
              : damaged("its state is of another document or version")
        })
      } catch (cause) {
        return damaged(`reading it threw ${cause instanceof Error ? cause.name : "an exception"}`)
      }
    }),
    Effect.catchAll((error) =>
      Effect.succeed(error._tag === "DocumentForgotten" ? undefined : damaged(reasonOfPayload(error)))
    )
  )
}

const reasonOfPayload = (error: PayloadCorrupt | DecryptionFailed): string =>
  error._tag === "DecryptionFailed" ? `it could not be decrypted: ${error.reason}` : error.reason

/**
 * Scans the journal and its snapshots, a page at a time, and reports each damaged row, damaged
 * snapshot and document with missing versions to `onDamaged` as it is found (so a journal with
 * millions of damaged rows is reported without holding them). Reads only.
 *
 * Fails only when the database itself cannot be read; a row that cannot be decoded is a finding.
 *
 * @since 0.1.0
 */
export const scan = (options?: {
  readonly pageSize?: number | undefined
  readonly onDamaged?: ((finding: Finding) => Effect.Effect<void>) | undefined
}): Effect.Effect<Report, Errors.JournalError, SqlClient.SqlClient | PayloadCodec> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const codec = yield* PayloadCodec
    const upcasters = yield* Upcasters
    const pageSize = options?.pageSize ?? 1_000
    // The same statements on a SQLite and a PostgreSQL journal, but for how a parameter is written.
    const p = sql.onDialectOrElse({ pg: () => (n: number) => `$${n}`, orElse: () => (_: number) => "?" })
    const report = (finding: Finding) => options?.onDamaged?.(finding) ?? Effect.void
    let rows = 0
    let damagedRows = 0

    let after = 0
    while (true) {
      const values = yield* Effect.mapError(
        sql.unsafe(`SELECT ${selectList} FROM nerv_events WHERE position > ${p(1)} ORDER BY position LIMIT ${p(2)}`, [
          after,
          pageSize
        ]).values,
        journalError("could not read the journal's events")
      )
      if (values.length === 0) break
      const page: Array<EventRow> = values.map(fromValues)
      // Each payload is decoded on its own: one that does not decode is a finding, not a failure.
      const payloads = yield* decodeAll(
        codec,
        page.map((row) => ({
          encoding: String(row.encoding),
          data: row.payload instanceof Uint8Array ? row.payload : new Uint8Array(0),
          documentId: String(row.document_id),
          version: Number(row.version)
        }))
      )
      for (let i = 0; i < page.length; i++) {
        const damaged = checkRow(page[i]!, payloads[i]!, upcasters)
        if (damaged !== undefined) {
          damagedRows++
          yield* report({ _tag: "Row", row: damaged })
        }
      }
      rows += page.length
      after = Number(page[page.length - 1]!.position)
      if (values.length < pageSize) break
    }

    let snapshots = 0
    let damagedSnapshots = 0
    let afterDocument = ""
    let afterVersion = -1
    while (true) {
      const page = yield* Effect.mapError(
        sql.unsafe<SnapshotRow>(
          "SELECT document_id, version, encoding, state FROM nerv_snapshots " +
            `WHERE (document_id, version) > (${p(1)}, ${p(2)}) ORDER BY document_id, version LIMIT ${p(3)}`,
          [afterDocument, afterVersion, pageSize]
        ),
        journalError("could not read the journal's snapshots")
      )
      if (page.length === 0) break
      for (const row of page) {
        const damaged = yield* checkSnapshot(codec, row)
        if (damaged !== undefined) {
          damagedSnapshots++
          yield* report({ _tag: "Snapshot", snapshot: damaged })
        }
      }
      snapshots += page.length
      const last = page[page.length - 1]!
      afterDocument = String(last.document_id)
      afterVersion = Number(last.version)
      if (page.length < pageSize) break
    }

    // Retention removes a document's oldest versions, never ones in between: a hole is damage.
    const gaps = yield* Effect.mapError(
      sql.unsafe<
        { readonly document_id: string; readonly oldest: number; readonly newest: number; readonly rows: number }
      >(
        "SELECT document_id, min(version) AS oldest, max(version) AS newest, count(*) AS rows FROM nerv_events " +
          "GROUP BY document_id HAVING max(version) - min(version) + 1 <> count(*) ORDER BY document_id"
      ),
      journalError("could not read the journal's versions")
    )
    for (const gap of gaps) {
      yield* report({
        _tag: "Gap",
        gap: { documentId: gap.document_id, oldest: gap.oldest, newest: gap.newest, rows: gap.rows }
      })
    }

    return { rows, snapshots, damagedRows, damagedSnapshots, documentsWithGaps: gaps.length } satisfies Report
  })
