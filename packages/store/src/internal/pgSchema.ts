import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

const statements = (...sql: ReadonlyArray<string>) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (client) => Effect.forEach(sql, (statement) => client.unsafe(statement), { discard: true })
  )

/**
 * The PostgreSQL journal's migrations. Append new ones; never edit one that has shipped, since
 * databases out there recorded it as done.
 */
export const migrations = {
  "1_journal": statements(
    // The head: one row, locked by every group commit for the length of its transaction. Positions
    // are allocated from it inside that transaction, so they are gap-free and commit in their order
    // (see docs/storage.md); `forgotten` numbers the records of forgotten documents the same way.
    `CREATE TABLE nerv_head (
      id integer PRIMARY KEY CHECK (id = 1),
      position bigint NOT NULL,
      forgotten bigint NOT NULL
    )`,
    "INSERT INTO nerv_head (id, position, forgotten) VALUES (1, 0, 0)",
    `CREATE TABLE nerv_events (
      position bigint PRIMARY KEY,
      document_id text NOT NULL,
      version integer NOT NULL,
      event_id text NOT NULL,
      event_type text NOT NULL,
      schema_version integer NOT NULL,
      occurred_at bigint NOT NULL,
      actor text NOT NULL,
      correlation_id text NOT NULL,
      causation_id text NOT NULL,
      encoding text NOT NULL,
      payload bytea NOT NULL,
      UNIQUE (document_id, version)
    )`,
    // The index of documents, kept by every append in its own transaction (see SQLite's).
    `CREATE TABLE nerv_documents (
      seq bigint PRIMARY KEY,
      document_id text NOT NULL UNIQUE,
      author text NOT NULL DEFAULT '',
      version integer NOT NULL DEFAULT 0,
      deleted boolean NOT NULL DEFAULT false
    )`,
    "CREATE INDEX nerv_documents_by_author ON nerv_documents (author, seq)",
    `CREATE TABLE nerv_snapshots (
      document_id text NOT NULL,
      version integer NOT NULL,
      taken_at bigint NOT NULL,
      encoding text NOT NULL,
      state bytea NOT NULL,
      PRIMARY KEY (document_id, version)
    )`,
    `CREATE TABLE nerv_projections (
      name text PRIMARY KEY,
      position bigint NOT NULL,
      encoding text NOT NULL,
      state bytea NOT NULL,
      updated_at bigint NOT NULL
    )`,
    `CREATE TABLE nerv_forgotten (
      sequence bigint PRIMARY KEY,
      document_id text NOT NULL UNIQUE,
      forgotten_at bigint NOT NULL
    )`
  ),
  "2_security": statements(
    // The wrapped per-document data keys (KeyStore.layerSql) and the hash-chained audit trail
    // (AuditTrail.layerSql), with the DDL those layers run on a database that is not a journal's.
    `CREATE TABLE IF NOT EXISTS nerv_data_keys (
      document_id TEXT PRIMARY KEY,
      key_id TEXT,
      master_key_id TEXT,
      wrapped TEXT,
      created_at TEXT NOT NULL,
      forgotten_at TEXT
    )`,
    `CREATE TABLE IF NOT EXISTS nerv_audit (
      sequence BIGINT PRIMARY KEY,
      recorded_at TEXT NOT NULL,
      principal TEXT NOT NULL,
      roles TEXT NOT NULL,
      action TEXT NOT NULL,
      target TEXT,
      outcome TEXT NOT NULL,
      detail TEXT,
      correlation_id TEXT NOT NULL,
      previous_hash TEXT NOT NULL,
      hash TEXT NOT NULL,
      causation_id TEXT
    )`
  ),
  "3_outbox": statements(
    // The outbox (see SQLite's): the effects each command decided, inserted in the transaction of its
    // events, then claimed (claimed_by until claimed_until), performed, retried, or dead.
    `CREATE TABLE nerv_effects (
      seq bigserial PRIMARY KEY,
      effect_id text NOT NULL UNIQUE,
      effect_type text NOT NULL,
      document_id text NOT NULL,
      version integer NOT NULL,
      encoding text NOT NULL,
      payload bytea NOT NULL,
      recorded_at bigint NOT NULL,
      status text NOT NULL DEFAULT 'pending',
      attempts integer NOT NULL DEFAULT 0,
      available_at bigint NOT NULL,
      claimed_by text,
      claimed_until bigint NOT NULL DEFAULT 0,
      performed_at bigint,
      last_error text
    )`,
    "CREATE INDEX nerv_effects_by_status ON nerv_effects (status, seq)"
  ),
  "4_sagas": statements(
    // Each saga's checkpoint and its instances' states (SagaStore.layerSql), written together in one
    // transaction (see SQLite's 8_sagas).
    `CREATE TABLE nerv_sagas (
      name text PRIMARY KEY,
      position bigint NOT NULL,
      updated_at bigint NOT NULL
    )`,
    `CREATE TABLE nerv_saga_instances (
      saga text NOT NULL,
      key text NOT NULL,
      done integer NOT NULL,
      encoding text NOT NULL,
      state bytea NOT NULL,
      updated_at bigint NOT NULL,
      PRIMARY KEY (saga, key)
    )`,
    "CREATE INDEX nerv_saga_instances_active ON nerv_saga_instances (saga, done)"
  )
}

/**
 * Brings a journal database up to date (idempotent; each migration runs once, in a transaction that
 * locks the migrations table, so nodes starting together migrate once). Two nodes creating the
 * migrations table at the same moment may collide: the loser tries again.
 */
export const migrate = Migrator.make({})({
  loader: Migrator.fromRecord(migrations),
  table: "nerv_migrations"
}).pipe(Effect.retry(Schedule.intersect(Schedule.spaced("100 millis"), Schedule.recurs(5))))
