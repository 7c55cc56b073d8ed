import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { PostgresJournal, SqliteJournal } from "@nerv/store"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as AuditTrail from "../../src/security/AuditTrail.js"
import { pgLayer, tempSchema } from "../fixtures/postgres.js"
import { sqliteLayer } from "./fixtures.js"

const draft = (n: number): AuditTrail.Draft => ({
  principal: n % 2 === 0 ? "ann" : "bob",
  roles: ["editor"],
  action: "Documents.update",
  target: `doc-${n}`,
  outcome: n % 3 === 0 ? "denied" : "succeeded",
  detail: null,
  correlationId: `c-${n}`
})

const fill = (trail: AuditTrail.AuditTrailService, count: number, tick = TestClock.adjust("1 second")) =>
  Effect.forEach(Array.from({ length: count }, (_, i) => i + 1), (n) => Effect.zipRight(tick, trail.append(draft(n))))

describe("AuditTrail", () => {
  it.effect("chains each record to the one before it", () =>
    Effect.gen(function*() {
      const trail = yield* AuditTrail.makeMemory
      const entries = yield* fill(trail, 5)
      assert.deepStrictEqual(entries.map((e) => e.sequence), [1, 2, 3, 4, 5])
      assert.strictEqual(entries[0]!.previousHash, AuditTrail.genesis)
      for (let i = 1; i < entries.length; i++) assert.strictEqual(entries[i]!.previousHash, entries[i - 1]!.hash)
      assert.strictEqual(entries[0]!.recordedAt, "1970-01-01T00:00:01.000Z")
      const verification = yield* trail.verify()
      assert.deepStrictEqual(verification, {
        _tag: "Intact",
        count: 5,
        head: { sequence: 5, hash: entries[4]!.hash }
      })
      assert.deepStrictEqual(yield* trail.verify(), AuditTrail.verifyEntries(entries))
    }))

  describe("verifyEntries finds the first broken link", () => {
    const entries = Effect.runSync(Effect.flatMap(AuditTrail.makeMemory, (trail) => fill(trail, 6, Effect.void)))

    it("in an edited record", () => {
      const edited = entries.map((e) => e.sequence === 3 ? { ...e, outcome: "succeeded" as const } : e)
      assert.deepStrictEqual(AuditTrail.verifyEntries(edited), {
        _tag: "Broken",
        sequence: 3,
        reason: "its content was changed after it was written"
      })
    })

    it("in an edited record whose hash was recomputed", () => {
      const forged = entries.map((e) => {
        if (e.sequence !== 3) return e
        const { hash: _, ...rest } = { ...e, principal: "mallory" }
        return { ...rest, hash: AuditTrail.hashOf(rest) }
      })
      const result = AuditTrail.verifyEntries(forged)
      assert.strictEqual(result._tag === "Broken" && result.sequence, 4)
    })

    it("after a dropped record", () => {
      const result = AuditTrail.verifyEntries(entries.filter((e) => e.sequence !== 4))
      assert.strictEqual(result._tag === "Broken" && result.sequence, 4)
      assert.include(result._tag === "Broken" ? result.reason : "", "missing")
    })

    it("in reordered records", () => {
      const reordered = [entries[0]!, entries[2]!, entries[1]!, ...entries.slice(3)]
      const result = AuditTrail.verifyEntries(reordered)
      assert.strictEqual(result._tag === "Broken" && result.sequence, 2)
      const renumbered = reordered.map((e, i) => ({ ...e, sequence: i + 1 }))
      const again = AuditTrail.verifyEntries(renumbered)
      assert.strictEqual(again._tag === "Broken" && again.sequence, 2)
    })

    it("when records were cut off after the anchored head", () => {
      const head = { sequence: 6, hash: entries[5]!.hash }
      assert.strictEqual(AuditTrail.verifyEntries(entries, head)._tag, "Intact")
      const cut = AuditTrail.verifyEntries(entries.slice(0, 4), head)
      assert.strictEqual(cut._tag === "Broken" && cut.sequence, 5)
      const rewritten = AuditTrail.verifyEntries(entries, { sequence: 6, hash: "f".repeat(64) })
      assert.strictEqual(rewritten._tag === "Broken" && rewritten.sequence, 6)
    })
  })

  /** The databases the trail is kept in, and four connections to one of them, as four processes have. */
  const databases: ReadonlyArray<{
    readonly name: string
    readonly layer: Layer.Layer<SqlClient.SqlClient, unknown>
    readonly connections: Effect.Effect<ReadonlyArray<Context.Context<SqlClient.SqlClient>>, never, Scope.Scope>
  }> = [
    {
      name: "SQLite",
      layer: sqliteLayer,
      connections: Effect.gen(function*() {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-audit-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        return yield* Effect.forEach(
          [0, 1, 2, 3],
          () => Layer.build(SqliteJournal.layerClient({ filename: join(dir, "audit.db") })).pipe(Effect.orDie)
        )
      })
    },
    {
      name: "PostgreSQL",
      layer: pgLayer,
      connections: Effect.flatMap(tempSchema, (url) =>
        Effect.forEach(
          [0, 1, 2, 3],
          () => Layer.build(PostgresJournal.layerClient({ url: Redacted.make(url) })).pipe(Effect.orDie)
        ))
    }
  ]

  for (const database of databases) {
    describe(`in the journal's ${database.name} database`, () => {
      const withTrail = <A, E>(
        f: (trail: AuditTrail.AuditTrailService, sql: SqlClient.SqlClient) => Effect.Effect<A, E, Scope.Scope>
      ) =>
        Effect.gen(function*() {
          const trail = yield* AuditTrail.makeSql
          yield* fill(trail, 6)
          assert.strictEqual((yield* trail.verify())._tag, "Intact")
          return yield* f(trail, yield* SqlClient.SqlClient)
        }).pipe(Effect.scoped, Effect.provide(database.layer))

      it.effect("stores and reads records in order, and pages through them", () =>
        withTrail((trail) =>
          Effect.gen(function*() {
            const page = yield* trail.read({ after: 2, limit: 3 })
            assert.deepStrictEqual(page.map((e) => e.sequence), [3, 4, 5])
            assert.deepStrictEqual(page[0], { ...page[0]!, ...draft(3) })
          })
        ))

      it.effect("detects an edited record", () =>
        withTrail((trail, sql) =>
          Effect.gen(function*() {
            yield* sql`UPDATE nerv_audit SET outcome = 'succeeded' WHERE sequence = 3`
            const result = yield* trail.verify()
            assert.deepStrictEqual(result, {
              _tag: "Broken",
              sequence: 3,
              reason: "its content was changed after it was written"
            })
          })
        ))

      it.effect("keeps a causation id where one is given, verifies records without one, and detects it edited", () =>
        withTrail((trail, sql) =>
          Effect.gen(function*() {
            const caused = yield* trail.append({ ...draft(7), causationId: "event-7" })
            assert.strictEqual(caused.causationId, "event-7")
            const [older, newer] = yield* trail.read({ after: 5 })
            assert.isFalse("causationId" in older!)
            assert.strictEqual(newer!.causationId, "event-7")
            assert.strictEqual((yield* trail.verify())._tag, "Intact")
            yield* sql`UPDATE nerv_audit SET causation_id = 'event-8' WHERE sequence = 7`
            assert.deepStrictEqual(yield* trail.verify(), {
              _tag: "Broken",
              sequence: 7,
              reason: "its content was changed after it was written"
            })
          })
        ))

      it.effect("detects a dropped record", () =>
        withTrail((trail, sql) =>
          Effect.gen(function*() {
            yield* sql`DELETE FROM nerv_audit WHERE sequence = 2`
            const result = yield* trail.verify()
            assert.strictEqual(result._tag === "Broken" && result.sequence, 2)
          })
        ))

      it.effect("detects reordered records", () =>
        withTrail((trail, sql) =>
          Effect.gen(function*() {
            yield* sql`UPDATE nerv_audit SET sequence = -1 WHERE sequence = 4`
            yield* sql`UPDATE nerv_audit SET sequence = 4 WHERE sequence = 5`
            yield* sql`UPDATE nerv_audit SET sequence = 5 WHERE sequence = -1`
            const result = yield* trail.verify()
            assert.strictEqual(result._tag === "Broken" && result.sequence, 4)
          })
        ))

      it.effect("detects roles rewritten to something that is not even JSON", () =>
        withTrail((trail, sql) =>
          Effect.gen(function*() {
            yield* sql`UPDATE nerv_audit SET roles = 'admin' WHERE sequence = 6`
            const result = yield* trail.verify()
            assert.strictEqual(result._tag === "Broken" && result.sequence, 6)
          })
        ))

      it.effect("continues the chain across restarts", () =>
        withTrail((_, sql) =>
          Effect.gen(function*() {
            const again = yield* Effect.provideService(AuditTrail.makeSql, SqlClient.SqlClient, sql)
            const next = yield* again.append(draft(7))
            assert.strictEqual(next.sequence, 7)
            assert.strictEqual((yield* again.verify())._tag, "Intact")
          })
        ))

      it.effect("serializes concurrent appends into one unbroken chain, each caller answered with its own record", () =>
        withTrail((trail) =>
          Effect.gen(function*() {
            const drafts = Array.from({ length: 300 }, (_, i) => draft(i + 10))
            const entries = yield* Effect.forEach(drafts, trail.append, { concurrency: "unbounded" })
            entries.forEach((entry, i) => assert.strictEqual(entry.correlationId, drafts[i]!.correlationId))
            assert.deepStrictEqual(
              entries.map((entry) => entry.sequence).sort((a, b) => a - b),
              Array.from({ length: 300 }, (_, i) => i + 7)
            )
            const stored = yield* trail.read({ after: 6 })
            assert.deepStrictEqual(stored, [...entries].sort((a, b) => a.sequence - b.sequence))
            const result = yield* trail.verify()
            assert.deepStrictEqual(result._tag === "Intact" && result.count, 306)
          })
        ))

      it.live("keeps one chain when several processes append to one database at once", () =>
        Effect.gen(function*() {
          // Four connections of their own, as four processes have, appending at the same time.
          const trails = yield* Effect.forEach(
            yield* database.connections,
            (client) => Effect.provide(AuditTrail.makeSql, client)
          )
          yield* Effect.forEach(
            trails,
            (trail, t) =>
              Effect.forEach(Array.from({ length: 25 }, (_, i) => draft(t * 100 + i)), trail.append, { discard: true }),
            { concurrency: "unbounded" }
          )
          for (const trail of trails) {
            const result = yield* trail.verify()
            assert.deepStrictEqual(result._tag === "Intact" && result.count, 100)
          }
        }).pipe(Effect.scoped))
    })
  }
})
