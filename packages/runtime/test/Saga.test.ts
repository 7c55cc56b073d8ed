import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, Journal } from "@nerv/core"
import { SagaStore } from "@nerv/store"
import * as Chunk from "effect/Chunk"
import * as ConfigProvider from "effect/ConfigProvider"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Nerv, Rbac, Saga } from "../src/index.js"
import { tempSchema } from "./fixtures/postgres.js"
import { masterKeys } from "./security/fixtures.js"

/**
 * An order: its creation reserves stock (a reservation document) and charges (an update of the
 * order), then waits an hour for a confirmation, which ships (a shipment document). A
 * cancellation or the deadline refunds and releases, in that order. Each step is one command,
 * skipped when the journal already holds it.
 */
const OrderState = Schema.Struct({
  order: Schema.String,
  reservation: Schema.optional(Schema.String),
  shipment: Schema.optional(Schema.String)
})
type OrderState = typeof OrderState.Type

const createdIn = (committed: ReadonlyArray<Journal.JournalEntry>) =>
  committed.find((entry) => entry.event._tag === "DocumentCreated")?.event.documentId

const order = Saga.make<OrderState, typeof OrderState.Encoded, Nerv.Services>({
  name: "order",
  state: OrderState,
  start: (entry) =>
    entry.event._tag === "DocumentCreated" && entry.event.title === "order"
      ? {
        key: entry.event.documentId,
        state: { order: entry.event.documentId },
        run: ["reserve", "charge"],
        then: Saga.wait("1 hour")
      }
      : undefined,
  route: (entry) => entry.event.documentId,
  react: (state, entry) =>
    entry.event._tag !== "DocumentUpdated" ?
      undefined :
      entry.event.content === "confirm"
      ? { state, run: ["ship"], then: Saga.complete }
      : entry.event.content === "cancel"
      ? { state, then: Saga.compensate("cancelled") }
      : undefined,
  steps: {
    reserve: {
      run: (state, { committed }) =>
        Effect.map(
          Option.match(Option.fromNullable(createdIn(committed)), {
            onSome: Effect.succeed,
            onNone: () => Documents.create({ title: "reservation", content: state.order }).pipe(Access.as("shop"))
          }),
          (reservation) => ({ ...state, reservation })
        ),
      compensate: (state, { committed }) =>
        Effect.as(
          committed.length > 0 ?
            Effect.void :
            Documents.remove(state.reservation!, { reason: "released" }).pipe(Access.as("shop")),
          state
        )
    },
    charge: {
      run: (state, { committed }) =>
        Effect.as(
          committed.length > 0
            ? Effect.void
            : Documents.update(state.order, { title: "order (charged)" }).pipe(Access.as("shop")),
          state
        ),
      compensate: (state, { committed }) =>
        Effect.as(
          committed.length > 0
            ? Effect.void
            : Documents.update(state.order, { title: "order (refunded)" }).pipe(Access.as("shop")),
          state
        )
    },
    ship: {
      run: (state, { committed }) =>
        Effect.map(
          Option.match(Option.fromNullable(createdIn(committed)), {
            onSome: Effect.succeed,
            onNone: () => Documents.create({ title: "shipment", content: state.order }).pipe(Access.as("shop"))
          }),
          (shipment) => ({ ...state, shipment })
        )
    }
  }
})

const entries = Effect.flatMap(Journal.Journal, (journal) => Stream.runCollect(journal.read())).pipe(
  Effect.map(Chunk.toReadonlyArray)
)

/** The commands the shop made, as `type title-or-reason`, each with how often it was made. */
const shopCommands = Effect.map(entries, (all) =>
  all.filter((entry) => entry.event.actor === "shop").map((entry) => {
    const event = entry.event
    return `${event._tag} ${
      event._tag === "DocumentDeleted" ? event.reason : event._tag === "DocumentCreated" ? event.title : event.title
    }`
  }))

/** A saga store that dies (as a killed process would) instead of making its `n`-th save. */
const dyingAt = (store: SagaStore.SagaStoreService, n: number): SagaStore.SagaStoreService => {
  let saves = 0
  return {
    ...store,
    save: (saga, position, changed) =>
      Effect.suspend(() => ++saves === n ? Effect.die("killed") : store.save(saga, position, changed))
  }
}

const scenario = (outcome: "confirm" | "cancel" | "timeout", poll: Effect.Effect<void, unknown, any>) =>
  Effect.gen(function*() {
    const id = yield* Documents.create({ title: "order", content: "2 books" }).pipe(Access.as("ann"))
    yield* poll
    if (outcome === "timeout") {
      yield* TestClock.adjust("2 hours")
    } else {
      const [created] = yield* Documents.history(id)
      yield* Documents.update(id, { content: outcome }).pipe(Access.as("ann")).pipe(Documents.causedBy(created!.event))
    }
    yield* poll
    return id
  })

const expected = {
  confirm: ["DocumentCreated reservation", "DocumentUpdated order (charged)", "DocumentCreated shipment"],
  cancel: [
    "DocumentCreated reservation",
    "DocumentUpdated order (charged)",
    "DocumentUpdated order (refunded)",
    "DocumentDeleted released"
  ]
}

describe("Saga", () => {
  it.effect("runs steps, waits, completes; compensates in reverse order on a cancellation or a deadline", () =>
    Effect.gen(function*() {
      for (const outcome of ["confirm", "cancel", "timeout"] as const) {
        yield* Effect.gen(function*() {
          const saga = yield* Saga.runner(order)
          const id = yield* scenario(outcome, saga.poll)
          const instance = Option.getOrThrow(yield* Saga.instance(order, id))
          assert.strictEqual(instance.status, outcome === "confirm" ? "completed" : "compensated")
          assert.deepStrictEqual(yield* shopCommands, outcome === "confirm" ? expected.confirm : expected.cancel)
          if (outcome === "timeout") assert.strictEqual(instance.reason, "no answer before the deadline")
        }).pipe(Effect.provide(Layer.mergeAll(Nerv.layerTest, SagaStore.layerMemory)))
      }
    }))

  it.effect("after a crash at any point, resumes and never makes a command twice", () =>
    Effect.gen(function*() {
      for (const outcome of ["confirm", "cancel", "timeout"] as const) {
        let crashes = 0
        for (let n = 1;; n++) {
          const finished = yield* Effect.gen(function*() {
            const store = yield* SagaStore.SagaStore
            // The first runner dies at its n-th save; a second one takes over from what was stored.
            const first = yield* Saga.runner(order).pipe(
              Effect.provideService(SagaStore.SagaStore, dyingAt(store, n))
            )
            let second: Saga.Runner<Nerv.Services> | undefined
            const poll = Effect.suspend(() => second === undefined ? first.poll : second.poll).pipe(
              Effect.catchAllDefect(() =>
                Effect.flatMap(Saga.runner(order), (runner) => {
                  second = runner
                  return runner.poll
                })
              )
            )
            const id = yield* scenario(outcome, poll)
            yield* poll
            const instance = Option.getOrThrow(yield* Saga.instance(order, id))
            assert.strictEqual(
              instance.status,
              outcome === "confirm" ? "completed" : "compensated",
              `crash at save ${n}`
            )
            assert.deepStrictEqual(
              yield* shopCommands,
              outcome === "confirm" ? expected.confirm : expected.cancel,
              `crash at save ${n}`
            )
            return second === undefined
          }).pipe(Effect.provide(Layer.mergeAll(Nerv.layerTest, SagaStore.layerMemory)))
          if (finished) break
          crashes++
        }
        // Every save of the run was a crash point: a step begun, a command made, a move stored.
        assert.isAtLeast(crashes, outcome === "confirm" ? 8 : 8)
      }
    }))

  it.effect("a failure of the store is a failure of the poll, and the next poll resumes", () =>
    Effect.gen(function*() {
      const store = yield* SagaStore.SagaStore
      const saga = yield* Saga.runner(order).pipe(Effect.provideService(SagaStore.SagaStore, dyingAt(store, 2)))
      yield* Documents.create({ title: "order", content: "1 pen" }).pipe(Access.as("ann"))
      const exit = yield* Effect.exit(saga.poll)
      assert.isTrue(Exit.isFailure(exit))
    }).pipe(Effect.provide(Layer.mergeAll(Nerv.layerTest, SagaStore.layerMemory))))
})

describe("SagaStore.layerSql on SQLite (through Nerv.layerSqlite)", () => {
  it.scoped("keeps checkpoint and instances across a reopen, sealed at rest", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-saga-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const file = join(dir, "nerv.db")
      const open = <A, E>(program: Effect.Effect<A, E, Nerv.SqliteServices>) =>
        program.pipe(Effect.provide(Nerv.layerSqlite({ filename: file, policy: Rbac.layerAllowAll })), Effect.scoped)
      const id = yield* open(Effect.gen(function*() {
        const saga = yield* Saga.runner(order)
        const id = yield* Documents.create({ title: "order", content: "secret books" }).pipe(Access.as("ann"))
        yield* saga.poll
        // The steps' own entries are read by the next poll.
        yield* saga.poll
        return id
      }))
      const reopened = yield* open(Effect.gen(function*() {
        const progress = yield* Effect.flatMap(SagaStore.SagaStore, (store) => store.load("order"))
        return { progress, instance: Option.getOrThrow(yield* Saga.instance(order, id)) }
      }))
      assert.strictEqual(reopened.progress.position, 3)
      assert.deepStrictEqual(reopened.progress.active.map((i) => i.key), [id])
      assert.deepStrictEqual(reopened.instance.done, ["reserve", "charge"])
      assert.strictEqual(reopened.instance.status, "active")
      // The instance's state is sealed like the events: its JSON is nowhere in the file.
      assert.notInclude(readFileSync(file).toString("latin1"), `"order":"${id}"`)
    }))
})

describe("Saga on PostgreSQL (Nerv.layerPostgres)", () => {
  it.live("a node dies mid-run; another node's runner resumes from what was stored, each command once", () =>
    Effect.gen(function*() {
      const url = yield* tempSchema
      const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["NERV_MASTER_KEYS", masterKeys.k1]])))
      const node = () =>
        Effect.map(
          Layer.build(Nerv.layerPostgres({ url, policy: Rbac.layerAllowAll }).pipe(Layer.provide(config), Layer.orDie)),
          (context) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
            Effect.provide(Access.as(effect, "ann"), context as Context.Context<never>) as Effect.Effect<A, E, never>
        )
      const a = yield* node()
      const b = yield* node()
      // Node a's runner dies at its 5th save: after charging, before the save that records it.
      const dying = yield* a(
        Effect.flatMap(
          SagaStore.SagaStore,
          (store) => Saga.runner(order).pipe(Effect.provideService(SagaStore.SagaStore, dyingAt(store, 5)))
        )
      )
      const id = yield* a(Documents.create({ title: "order", content: "2 books" }).pipe(Access.as("ann")))
      assert.isTrue(Exit.isFailure(yield* a(Effect.exit(dying.poll))))
      const [created] = yield* b(Documents.history(id))
      yield* b(
        Documents.update(id, { content: "confirm" }).pipe(Access.as("ann")).pipe(Documents.causedBy(created!.event))
      )
      const resumed = yield* b(Saga.runner(order))
      yield* b(resumed.poll)
      yield* b(resumed.poll)
      const instance = Option.getOrThrow(yield* b(Saga.instance(order, id)))
      assert.strictEqual(instance.status, "completed")
      assert.include(instance.log, "resumed charge")
      assert.deepStrictEqual(yield* b(shopCommands), expected.confirm)
    }).pipe(Effect.scoped))
})
