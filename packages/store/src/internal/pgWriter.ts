import type { Journal } from "@nerv/core"
import pg from "pg"
import type { Outcome, PendingAppend } from "./sqliteWriter.js"

/**
 * The PostgreSQL journal's own connections: the one its group commits write through, and the one it
 * listens on. Both are plain `pg` clients beside the `SqlClient`'s pool: a group commit is a few
 * statements on one connection that must not be interleaved with anything else, and the listening
 * connection must be watched and reopened when it drops, neither of which a pool gives.
 */

/** `pg` reads `bigint` columns as strings; positions and times fit a number. */
export const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === 20
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as "text")) as pg.CustomTypesConfig["getTypeParser"]
}

/** A group commit that waited `lock_timeout` for the head row (another node's long transaction). */
export class Busy extends Error {}

/** The connection dropped during a group commit, which certainly did not commit. */
export class NotCommitted extends Error {}

/**
 * The connection dropped during a group's commit and no new one could be opened to learn whether
 * the commit had reached the server.
 */
export class InDoubt extends Error {}

/** Connection-level failures: the server went away, or the socket did. */
export const isConnectionLost = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === "string") {
    // Class 08: connection exceptions; 57P01-57P03: the server shut down or is starting.
    return code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" ||
      code === "ECONNRESET" || code === "ECONNREFUSED" || code === "EPIPE" || code === "ETIMEDOUT"
  }
  return /Connection terminated|Client has encountered a connection error|not queryable|ECONN/.test(String(error))
}

/** Opens a client on `config` with the journal's type parsers; its errors are reported, never thrown. */
export const connect = async (config: pg.ClientConfig, onError: (error: Error) => void): Promise<pg.Client> => {
  const client = new pg.Client({ ...config, types })
  client.on("error", onError)
  await client.connect()
  return client
}

const insertEvents = `INSERT INTO nerv_events (position, document_id, version, event_id, event_type, schema_version,
  occurred_at, actor, correlation_id, causation_id, encoding, payload)
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::text[], $6::int[], $7::bigint[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::bytea[])`

const upsertDocuments = `INSERT INTO nerv_documents (seq, document_id, author, version, deleted)
  SELECT * FROM unnest($13::bigint[], $14::text[], $15::text[], $16::int[], $17::boolean[])
  ON CONFLICT (document_id) DO UPDATE SET version = excluded.version,
    deleted = nerv_documents.deleted OR excluded.deleted`

/**
 * A group's rows, its index of documents, the head and the notification, in one statement (one
 * round trip): the notification is delivered when the transaction commits, never before.
 */
const appendStatement = `WITH e AS (${insertEvents}), d AS (${upsertDocuments}),
  h AS (UPDATE nerv_head SET position = $18 WHERE id = 1)
  SELECT pg_notify($19, $20)`

/** The outbox effects of a group's commands, in the same transaction as their events. */
const insertEffects = `INSERT INTO nerv_effects (effect_id, effect_type, document_id, version, encoding, payload,
  recorded_at, available_at)
  SELECT i, t, d, v, e, p, r, r FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bytea[],
    $7::bigint[]) AS x(i, t, d, v, e, p, r)`

/** The positions a group took: the last one and how many. */
export interface Claim {
  readonly last: number
  readonly count: number
}

/**
 * The writer: commits groups of commands on its connection, reconnecting after a failure.
 */
export interface PgWriter {
  /**
   * Commits a group in one transaction that holds the head row from its first statement to its
   * commit. Throws `Busy` when the head stayed locked for `lock_timeout`, `NotCommitted` when the
   * connection dropped and the group was found not to have committed, and any other error as is.
   */
  readonly commitGroup: (group: ReadonlyArray<PendingAppend>) => Promise<Array<Outcome>>
  readonly close: () => Promise<void>
}

/**
 * Makes the writer. `channel` is what its commits notify, with `instance` as the payload (so that a
 * listener of the same journal knows its own commits); `busyTimeout` is its `lock_timeout`.
 */
export const makeWriter = (options: {
  readonly config: pg.ClientConfig
  readonly channel: string
  readonly instance: string
  readonly busyTimeout: number
  /**
   * Told the positions a group took, once it holds the head row and before it commits (its commit
   * can be seen from then on), and `undefined` when a group that took positions gives them back.
   */
  readonly claimed?: (claim: Claim | undefined) => void
}): PgWriter => {
  let client: pg.Client | undefined
  let broken = false
  const open = async () => {
    if (client !== undefined && !broken) return client
    if (client !== undefined) client.end().catch(() => undefined)
    broken = false
    const opened = await connect(options.config, () => {
      broken = true
    })
    await opened.query(`SET lock_timeout = ${Math.max(1, Math.floor(options.busyTimeout))}`)
    client = opened
    return opened
  }

  const write = async (
    c: pg.Client,
    group: ReadonlyArray<PendingAppend>,
    decided: (outcomes: Array<Outcome>) => void
  ) => {
    const ids = [...new Set(group.map((pending) => pending.documentId))]
    const results = await c.query(
      "BEGIN; SELECT position FROM nerv_head WHERE id = 1 FOR UPDATE; " +
        "SELECT document_id, max(version) AS version FROM nerv_events " +
        `WHERE document_id IN (${ids.map((id) => c.escapeLiteral(id)).join(",")}) GROUP BY document_id`
    ) as unknown as Array<pg.QueryResult>
    const head = Number(results[1]!.rows[0]!.position)
    let position = head
    const actual = new Map<string, number>()
    for (const row of results[2]!.rows) actual.set(row.document_id, Number(row.version))
    const outcomes: Array<Outcome> = []
    const columns: Array<Array<unknown>> = Array.from({ length: 12 }, () => [])
    const documents = new Map<string, { seq: number; author: string; version: number; deleted: boolean }>()
    const effects: Array<Array<unknown>> = Array.from({ length: 7 }, () => [])
    for (const pending of group) {
      const current = actual.get(pending.documentId) ?? 0
      if (current !== pending.expectedVersion) {
        outcomes.push({ _tag: "Conflict", actual: current })
        continue
      }
      const entries: Array<Journal.JournalEntry> = []
      let deleted = false
      for (let i = 0; i < pending.events.length; i++) {
        const row = pending.rows[i]!
        if (row.event_type === "DocumentDeleted") deleted = true
        position++
        columns[0]!.push(position)
        columns[1]!.push(row.document_id)
        columns[2]!.push(row.version)
        columns[3]!.push(row.event_id)
        columns[4]!.push(row.event_type)
        columns[5]!.push(row.schema_version)
        columns[6]!.push(row.occurred_at)
        columns[7]!.push(row.actor)
        columns[8]!.push(row.correlation_id)
        columns[9]!.push(row.causation_id)
        columns[10]!.push(row.encoding)
        columns[11]!.push(row.payload)
        entries.push({ position, event: pending.events[i]! })
      }
      const last = current + entries.length
      const known = documents.get(pending.documentId)
      if (known === undefined) {
        documents.set(pending.documentId, {
          seq: entries[0]!.position,
          author: pending.rows[0]!.actor,
          version: last,
          deleted
        })
      } else {
        known.version = last
        known.deleted ||= deleted
      }
      actual.set(pending.documentId, last)
      if (pending.effects !== undefined) {
        const row = pending.rows[pending.rows.length - 1]!
        for (const effect of pending.effects) {
          effects[0]!.push(effect.effect_id)
          effects[1]!.push(effect.effect_type)
          effects[2]!.push(row.document_id)
          effects[3]!.push(row.version)
          effects[4]!.push(effect.encoding)
          effects[5]!.push(effect.payload)
          effects[6]!.push(row.occurred_at)
        }
      }
      outcomes.push({ _tag: "Committed", entries })
    }
    if (documents.size === 0) {
      await c.query("ROLLBACK")
      return outcomes
    }
    const docs = [...documents]
    decided(outcomes)
    options.claimed?.({ last: position, count: position - head })
    await c.query({
      name: "nerv_append",
      text: appendStatement,
      values: [
        ...columns,
        docs.map(([, d]) => d.seq),
        docs.map(([id]) => id),
        docs.map(([, d]) => d.author),
        docs.map(([, d]) => d.version),
        docs.map(([, d]) => d.deleted),
        position,
        options.channel,
        options.instance
      ]
    })
    if (effects[0]!.length > 0) await c.query({ name: "nerv_append_effects", text: insertEffects, values: effects })
    await c.query("COMMIT")
    return outcomes
  }

  /**
   * After the connection dropped: whether the group committed (its commit may have reached the
   * server before the connection went), read on a new connection by its first committed row.
   */
  const resolve = async (outcomes: ReadonlyArray<Outcome> | undefined, cause: unknown) => {
    const first = outcomes?.find((outcome) => outcome._tag === "Committed")
    if (outcomes === undefined || first === undefined) {
      throw new NotCommitted("the connection to PostgreSQL was lost; nothing was committed", { cause })
    }
    const entry = first.entries[0]!
    let committed: boolean
    try {
      const c = await open()
      const found = await c.query(
        "SELECT position FROM nerv_events WHERE document_id = $1 AND version = $2 AND event_id = $3",
        [entry.event.documentId, entry.event.version, entry.event.eventId]
      )
      committed = found.rows.length === 1 && Number(found.rows[0].position) === entry.position
    } catch (error) {
      throw new InDoubt(
        "the connection to PostgreSQL was lost while committing and could not be reopened: whether the append " +
          "committed is unknown (reading the document will tell)",
        { cause: error }
      )
    }
    if (committed) return [...outcomes]
    throw new NotCommitted("the connection to PostgreSQL was lost; nothing was committed", { cause })
  }

  const commitGroup = async (group: ReadonlyArray<PendingAppend>, retried = false): Promise<Array<Outcome>> => {
    const c = await open().catch((error) => {
      throw new NotCommitted(
        `could not connect to PostgreSQL (${
          error instanceof Error ? error.message : String(error)
        }); nothing was committed`,
        { cause: error }
      )
    })
    let decided: Array<Outcome> | undefined
    try {
      return await write(c, group, (outcomes) => (decided = outcomes))
    } catch (error) {
      if (decided !== undefined) options.claimed?.(undefined)
      if (broken || isConnectionLost(error)) {
        broken = true
        // A connection that had dropped while idle (a restarted server, a proxy's timeout) fails
        // the group's first statement, before anything was written: once, on a new connection,
        // the group runs again.
        if (decided === undefined && !retried) return commitGroup(group, true)
        // The outcomes are known once the versions were read; a drop before that wrote nothing.
        return resolve(decided, error)
      }
      await c.query("ROLLBACK").catch(() => {
        broken = true
      })
      if ((error as { code?: unknown }).code === "55P03") {
        throw new Busy("the head row stayed locked", { cause: error })
      }
      throw error
    }
  }

  return {
    commitGroup: (group) => commitGroup(group),
    close: async () => {
      if (client !== undefined) await client.end().catch(() => undefined)
      client = undefined
    }
  }
}
