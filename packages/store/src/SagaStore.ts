/**
 * Where sagas (process managers) keep their progress: each saga's journal checkpoint and its
 * instances' states, written together in one transaction, so that after a crash a saga resumes with
 * a checkpoint and states that agree. `layerSql` keeps them in the journal's database, SQLite or
 * PostgreSQL (sealed like the events); `layerMemory` in memory, for tests.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Errors } from "@nerv/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { PayloadCodec } from "./PayloadCodec.js"

/**
 * One saga instance as stored: its key, whether it is over (completed, compensated or failed),
 * and its encoded state (JSON).
 *
 * @since 0.1.0
 */
export interface StoredInstance {
  readonly key: string
  readonly done: boolean
  readonly data: unknown
}

/**
 * A saga's stored progress: the last journal position it consumed, and the instances still running.
 *
 * @since 0.1.0
 */
export interface Progress {
  readonly position: number
  readonly active: ReadonlyArray<StoredInstance>
}

/**
 * @since 0.1.0
 */
export interface SagaStoreService {
  /** The saga's checkpoint (0 when it never ran) and its instances that are not done. */
  readonly load: (saga: string) => Effect.Effect<Progress, Errors.JournalError>
  /** Every instance of the saga, done or not, in key order. */
  readonly instances: (saga: string) => Effect.Effect<ReadonlyArray<StoredInstance>, Errors.JournalError>
  /** One instance, done or not. */
  readonly instance: (saga: string, key: string) => Effect.Effect<Option.Option<StoredInstance>, Errors.JournalError>
  /** Stores the checkpoint and the changed instances together, atomically: all of it or none. */
  readonly save: (
    saga: string,
    position: number,
    changed: ReadonlyArray<StoredInstance>
  ) => Effect.Effect<void, Errors.JournalError>
}

/**
 * Where sagas keep their checkpoints and instances.
 *
 * @since 0.1.0
 */
export class SagaStore extends Context.Tag("@nerv/store/SagaStore")<SagaStore, SagaStoreService>() {}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const toBlob = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
const failed = (reason: string) => (cause: unknown) => new Errors.JournalError({ reason, cause })

/**
 * Sagas' progress in memory, for tests (a save replaces checkpoint and instances at once).
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<SagaStore> = Layer.sync(SagaStore, () => {
  const positions = new Map<string, number>()
  const stored = new Map<string, Map<string, StoredInstance>>()
  const of = (saga: string) => {
    let instances = stored.get(saga)
    if (instances === undefined) stored.set(saga, instances = new Map())
    return instances
  }
  const sorted = (saga: string) => [...of(saga).values()].sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  return {
    load: (saga) =>
      Effect.sync(() => ({
        position: positions.get(saga) ?? 0,
        active: sorted(saga).filter((instance) => !instance.done)
      })),
    instances: (saga) => Effect.sync(() => sorted(saga)),
    instance: (saga, key) => Effect.sync(() => Option.fromNullable(of(saga).get(key))),
    save: (saga, position, changed) =>
      Effect.try({
        // JSON, as a database holds it: a later change to the caller's objects changes nothing here,
        // and a state JSON cannot hold fails the save, before anything is written.
        try: () => changed.map((instance) => ({ ...instance, data: JSON.parse(JSON.stringify(instance.data)) })),
        catch: failed(`could not encode the progress of saga ${saga}`)
      }).pipe(Effect.map((copies) => {
        for (const instance of copies) of(saga).set(instance.key, instance)
        positions.set(saga, position)
      }))
  }
})

interface InstanceRow {
  readonly key: string
  readonly done: number
  readonly encoding: string
  readonly state: Uint8Array
}

/**
 * Sagas' progress in the journal's SQL database, SQLite or PostgreSQL (tables `nerv_sagas` and
 * `nerv_saga_instances`, created by the journal's migrations: open the journal first). States are
 * encoded by the journal's payload codec, so they are sealed at rest like the events they copy from.
 *
 * @since 0.1.0
 */
export const layerSql: Layer.Layer<SagaStore, never, SqlClient.SqlClient | PayloadCodec> = Layer.effect(
  SagaStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const codec = yield* PayloadCodec
    // One data key per saga (not per instance), bound to the saga's name.
    const rowOf = (saga: string) => ({ documentId: `saga:${saga}`, version: 0 })
    const decodeRow = (saga: string) => (row: InstanceRow) =>
      codec.decode({ encoding: row.encoding, data: row.state }, rowOf(saga)).pipe(
        Effect.mapError((error) => new Errors.JournalError({ reason: error.message, cause: error })),
        Effect.flatMap((bytes) =>
          Effect.try({
            try: () => ({
              key: row.key,
              done: Number(row.done) === 1,
              data: JSON.parse(decoder.decode(bytes)) as unknown
            }),
            catch: failed(`the state of saga ${saga} instance ${row.key} is not JSON`)
          })
        )
      )
    const decodeRows = (saga: string) => (rows: ReadonlyArray<InstanceRow>) => Effect.forEach(rows, decodeRow(saga))
    const readFailed = (saga: string) => failed(`could not read the instances of saga ${saga}`)
    return {
      load: (saga) =>
        Effect.zipWith(
          sql<{ readonly position: number }>`SELECT position FROM nerv_sagas WHERE name = ${saga}`.pipe(
            Effect.mapError(failed(`could not read the checkpoint of saga ${saga}`))
          ),
          sql<InstanceRow>`SELECT key, done, encoding, state FROM nerv_saga_instances
            WHERE saga = ${saga} AND done = 0 ORDER BY key`.pipe(
            Effect.mapError(readFailed(saga)),
            Effect.flatMap(decodeRows(saga))
          ),
          (rows, active) => ({ position: Number(rows[0]?.position ?? 0), active })
        ),
      instances: (saga) =>
        sql<InstanceRow>`SELECT key, done, encoding, state FROM nerv_saga_instances
          WHERE saga = ${saga} ORDER BY key`.pipe(Effect.mapError(readFailed(saga)), Effect.flatMap(decodeRows(saga))),
      instance: (saga, key) =>
        sql<InstanceRow>`SELECT key, done, encoding, state FROM nerv_saga_instances
          WHERE saga = ${saga} AND key = ${key}`.pipe(
          Effect.mapError(readFailed(saga)),
          Effect.flatMap(decodeRows(saga)),
          Effect.map((rows) => Option.fromNullable(rows[0]))
        ),
      save: (saga, position, changed) =>
        Effect.forEach(changed, (instance) =>
          Effect.map(
            Effect.suspend(() => codec.encode(encoder.encode(JSON.stringify(instance.data)), rowOf(saga))).pipe(
              Effect.mapError((error) => new Errors.JournalError({ reason: error.message, cause: error }))
            ),
            (encoded) => ({ instance, encoded })
          )).pipe(
            Effect.flatMap((rows) =>
              sql.withTransaction(Effect.gen(function*() {
                const now = Date.now()
                yield* sql`INSERT INTO nerv_sagas (name, position, updated_at) VALUES (${saga}, ${position}, ${now})
                  ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`
                for (const { encoded, instance } of rows) {
                  yield* sql`INSERT INTO nerv_saga_instances (saga, key, done, encoding, state, updated_at)
                    VALUES (${saga}, ${instance.key}, ${instance.done ? 1 : 0}, ${encoded.encoding},
                      ${toBlob(encoded.data)}, ${now})
                    ON CONFLICT (saga, key) DO UPDATE SET done = excluded.done, encoding = excluded.encoding,
                    state = excluded.state, updated_at = excluded.updated_at`
                }
              })).pipe(Effect.mapError(failed(`could not save the progress of saga ${saga}`)))
            )
          )
    }
  })
)
