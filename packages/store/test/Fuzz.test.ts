/**
 * Fuzzing the store's decoders: the payload codecs on any stored bytes and encoding, and the SQLite
 * journal and its verifying scan on rows holding anything (what a damaged disk or a hand edit can
 * leave). A value or a typed error, never a defect. 10,000 cases per property; `pnpm fuzz` runs
 * 100,000 (`NERV_FUZZ_RUNS`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Journal } from "@nerv/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Zlib from "node:zlib"
import { JournalVerify, PayloadCodec } from "../src/index.js"
import { sqliteJournal } from "./fixtures/events.js"

const runs = Number(process.env["NERV_FUZZ_RUNS"] ?? 10_000)
const timeoutFor = (perCaseMillis: number) => Math.max(120_000, runs * perCaseMillis * 10)

const row = { documentId: "00000000-0000-4000-8000-000000000001", version: 1 }
const encoding = FastCheck.oneof(FastCheck.constantFrom("json", "json+gzip", "json+rot13", ""), FastCheck.string())
const deepJson = FastCheck.tuple(
  FastCheck.integer({ min: 50, max: 20_000 }),
  FastCheck.constantFrom("title", "content")
)
  .map(([depth, field]) => `{"${field}":${"[".repeat(depth)}1${"]".repeat(depth)}}`)
const payload: FastCheck.Arbitrary<Uint8Array> = FastCheck.oneof(
  FastCheck.uint8Array({ maxLength: 100 }),
  FastCheck.oneof(
    FastCheck.json(),
    deepJson,
    FastCheck.record({ title: FastCheck.string(), content: FastCheck.string() }, { requiredKeys: [] }).map((p) =>
      JSON.stringify(p)
    )
  ).map((text) => new Uint8Array(Buffer.from(text))),
  FastCheck.uint8Array({ maxLength: 100 }).map((bytes) => new Uint8Array(Zlib.gzipSync(bytes)))
)

describe("fuzz: the payload codecs", () => {
  it("decode any stored payload to bytes or a PayloadCorrupt naming the row", () => {
    const codecs = [PayloadCodec.json, PayloadCodec.compressed({ minBytes: 10 })]
    FastCheck.assert(
      FastCheck.property(encoding, payload, (enc, data) => {
        for (const codec of codecs) {
          const exit = Effect.runSyncExit(codec.decode({ encoding: enc, data }, row))
          if (Exit.isFailure(exit)) {
            assert.isFalse(Cause.isDie(exit.cause))
            const error = Effect.runSync(Effect.flip(exit))
            assert.strictEqual(error._tag, "PayloadCorrupt")
            assert.include(error.message, row.documentId)
          }
          const sync = PayloadCodec.decodeStandardSync({ encoding: enc, data }, row)
          if (Either.isLeft(sync)) assert.strictEqual(sync.left._tag, "PayloadCorrupt")
        }
      }),
      { numRuns: runs }
    )
  }, timeoutFor(1))
})

/** Mostly a sound value, sometimes anything: so that a row is often sound but for one column. */
const mostly = <A, B>(sound: FastCheck.Arbitrary<A>, other: FastCheck.Arbitrary<B>): FastCheck.Arbitrary<A | B> =>
  FastCheck.oneof({ arbitrary: sound, weight: 5 }, { arbitrary: other, weight: 1 })

/** A journal row as SQLite would hand it back after a bad disk or a hand edit: any value in any column. */
const storedRow = FastCheck.record({
  document_id: mostly(
    FastCheck.constantFrom(row.documentId, "00000000-0000-4000-8000-000000000002"),
    FastCheck.oneof(FastCheck.string(), FastCheck.integer())
  ),
  version: mostly(FastCheck.integer({ min: 1, max: 3 }), FastCheck.oneof(FastCheck.double(), FastCheck.string())),
  event_id: mostly(FastCheck.uuid(), FastCheck.string()),
  event_type: mostly(
    FastCheck.constantFrom("DocumentCreated", "DocumentUpdated", "DocumentDeleted"),
    FastCheck.string()
  ),
  schema_version: mostly(FastCheck.constant(1), FastCheck.oneof(FastCheck.constantFrom(0, 2), FastCheck.string())),
  occurred_at: mostly(
    FastCheck.integer({ min: 0, max: 2 ** 41 }),
    FastCheck.oneof(FastCheck.constantFrom(2 ** 62, -(2 ** 62), 8.64e15 + 1), FastCheck.double(), FastCheck.string())
  ),
  actor: mostly(FastCheck.constant("ann"), FastCheck.string()),
  encoding: mostly(FastCheck.constant("json"), encoding),
  payload: mostly(
    FastCheck.oneof(
      FastCheck.constant({ title: "t", content: "c" }),
      FastCheck.constant({ content: "c" }),
      FastCheck.constant({ reason: "r" })
    ).map((p) => new Uint8Array(Buffer.from(JSON.stringify(p)))),
    payload
  )
})

describe("fuzz: the SQLite journal on rows holding anything", () => {
  let dir = ""
  let runtime: ManagedRuntime.ManagedRuntime<Journal.Journal | SqlClient.SqlClient | PayloadCodec.PayloadCodec, unknown>
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "nerv-fuzz-store-"))
    runtime = ManagedRuntime.make(sqliteJournal(join(dir, "journal.db"), { durability: "NORMAL" }))
  })
  afterAll(async () => {
    await runtime.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  it("reads give entries or a JournalError, and the scan reports what it cannot read, never a defect", async () => {
    await FastCheck.assert(
      FastCheck.asyncProperty(FastCheck.array(storedRow, { minLength: 1, maxLength: 4 }), async (rows) => {
        await runtime.runPromise(Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql.unsafe("DELETE FROM nerv_events")
          yield* sql.unsafe("DELETE FROM nerv_snapshots")
          for (const [i, r] of rows.entries()) {
            yield* sql.unsafe(
              "INSERT OR IGNORE INTO nerv_events (position, document_id, version, event_id, event_type, " +
                "schema_version, occurred_at, actor, correlation_id, causation_id, encoding, payload) " +
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
              [
                i + 1,
                r.document_id,
                r.version,
                r.event_id,
                r.event_type,
                r.schema_version,
                r.occurred_at,
                r.actor,
                "c",
                "c",
                r.encoding,
                Buffer.from(r.payload)
              ]
            )
          }
        }))
        const read = await runtime.runPromiseExit(
          Effect.flatMap(Journal.Journal, (journal) => Stream.runCollect(journal.read()))
        )
        if (Exit.isFailure(read)) {
          assert.isFalse(Cause.isDie(read.cause), Cause.pretty(read.cause))
          assert.strictEqual((Effect.runSync(Effect.flip(read)) as { readonly _tag: string })._tag, "JournalError")
        }
        const scanned = await runtime.runPromiseExit(JournalVerify.scan())
        assert.isTrue(Exit.isSuccess(scanned), Exit.isFailure(scanned) ? Cause.pretty(scanned.cause) : "")
        if (Exit.isSuccess(scanned)) {
          assert.isAtMost(scanned.value.damagedRows, scanned.value.rows)
          // What a read refuses, the scan reports.
          if (Exit.isFailure(read)) assert.isAbove(scanned.value.damagedRows, 0)
        }
      }),
      { numRuns: runs }
    )
  }, timeoutFor(3))
})
