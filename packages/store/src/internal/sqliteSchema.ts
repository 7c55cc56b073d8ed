import * as SqliteMigrator from "@effect/sql-sqlite-node/SqliteMigrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

const statements = (...sql: ReadonlyArray<string>) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (client) => Effect.forEach(sql, (statement) => client.unsafe(statement), { discard: true })
  )

/** The journal's table of events, as the first migration creates it (archives have it too). */
export const eventsTable = `CREATE TABLE nerv_events (
      position INTEGER PRIMARY KEY,
      document_id TEXT NOT NULL,
      version INTEGER NOT NULL,
      event_id TEXT NOT NULL,
      event_type TEXT NOT NULL,
      schema_version INTEGER NOT NULL,
      occurred_at INTEGER NOT NULL,
      actor TEXT NOT NULL,
      correlation_id TEXT NOT NULL,
      causation_id TEXT NOT NULL,
      encoding TEXT NOT NULL,
      payload BLOB NOT NULL,
      UNIQUE (document_id, version)
    )`

/**
 * The journal database's migrations. Append new ones; never edit one that has shipped, since
 * databases out there recorded it as done.
 */
export const migrations = {
  "1_events": statements(
    // position is the rowid: the global order, assigned by the commit without gaps.
    eventsTable,
    // One row per document, in creation order: what a rebuild walks, whatever retention removed.
    `CREATE TABLE nerv_documents (
      seq INTEGER PRIMARY KEY,
      document_id TEXT NOT NULL UNIQUE
    )`
  ),
  "2_snapshots": statements(
    // Every snapshot is kept (one per N versions): the latest starts a rebuild, older ones start
    // reads of old versions, and the one at a document's retention horizon is its history's base.
    `CREATE TABLE nerv_snapshots (
      document_id TEXT NOT NULL,
      version INTEGER NOT NULL,
      taken_at INTEGER NOT NULL,
      encoding TEXT NOT NULL,
      state BLOB NOT NULL,
      PRIMARY KEY (document_id, version)
    ) WITHOUT ROWID`
  ),
  "3_projections": statements(
    `CREATE TABLE nerv_projections (
      name TEXT PRIMARY KEY,
      position INTEGER NOT NULL,
      encoding TEXT NOT NULL,
      state BLOB NOT NULL,
      updated_at INTEGER NOT NULL
    )`
  ),
  "4_forgotten": statements(
    // The documents forgotten (crypto-shredded), in the order they were: what every process that
    // follows the journal reads to drop what it holds of their content.
    `CREATE TABLE nerv_forgotten (
      sequence INTEGER PRIMARY KEY,
      document_id TEXT NOT NULL UNIQUE,
      forgotten_at INTEGER NOT NULL
    )`
  ),
  "5_document_index": statements(
    // The documents' index, kept by every append in its own transaction: what enumerating the
    // documents reads (by creation order, by author, live or deleted) instead of every document.
    "ALTER TABLE nerv_documents ADD COLUMN author TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE nerv_documents ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE nerv_documents ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0",
    `UPDATE nerv_documents SET
      version = coalesce((SELECT max(e.version) FROM nerv_events e WHERE e.document_id = nerv_documents.document_id), 0),
      author = coalesce(
        (SELECT e.actor FROM nerv_events e WHERE e.document_id = nerv_documents.document_id AND e.version = 1), ''),
      deleted = EXISTS (SELECT 1 FROM nerv_events e
        WHERE e.document_id = nerv_documents.document_id AND e.event_type = 'DocumentDeleted')`,
    "CREATE INDEX nerv_documents_by_author ON nerv_documents (author, seq)"
  ),
  // The two tables below were created by their own layers before they joined the migrations, so
  // a database may hold them already: hence IF NOT EXISTS, and the very DDL those layers ran.
  "6_data_keys": statements(
    // The wrapped per-document data keys (KeyStore.layerSql); a forgotten key's row keeps only
    // its document id and when it was forgotten.
    `CREATE TABLE IF NOT EXISTS nerv_data_keys (
      document_id TEXT PRIMARY KEY,
      key_id TEXT,
      master_key_id TEXT,
      wrapped TEXT,
      created_at TEXT NOT NULL,
      forgotten_at TEXT
    )`
  ),
  "7_audit": statements(
    // The hash-chained audit trail (AuditTrail.layerSql).
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
      hash TEXT NOT NULL
    )`
  ),
  "8_sagas": statements(
    // Each saga's checkpoint, and its instances' states (SagaStore.layerSql): a saga writes both
    // in one transaction, so that a crash never leaves a checkpoint and states that disagree.
    `CREATE TABLE nerv_sagas (
      name TEXT PRIMARY KEY,
      position INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`,
    `CREATE TABLE nerv_saga_instances (
      saga TEXT NOT NULL,
      key TEXT NOT NULL,
      done INTEGER NOT NULL,
      encoding TEXT NOT NULL,
      state BLOB NOT NULL,
      updated_at INTEGER NOT NULL,
      PRIMARY KEY (saga, key)
    ) WITHOUT ROWID`,
    "CREATE INDEX nerv_saga_instances_active ON nerv_saga_instances (saga, done)"
  ),
  "9_audit_causation": statements(
    // What caused each audited attempt (NULL in the records written before).
    "ALTER TABLE nerv_audit ADD COLUMN causation_id TEXT"
  ),
  "10_outbox": statements(
    // The outbox: the effects each command decided, inserted in the transaction of its events, then
    // claimed (claimed_by until claimed_until), performed, retried from available_at, or dead.
    `CREATE TABLE nerv_effects (
      seq INTEGER PRIMARY KEY,
      effect_id TEXT NOT NULL UNIQUE,
      effect_type TEXT NOT NULL,
      document_id TEXT NOT NULL,
      version INTEGER NOT NULL,
      encoding TEXT NOT NULL,
      payload BLOB NOT NULL,
      recorded_at INTEGER NOT NULL,
      status TEXT NOT NULL DEFAULT 'pending',
      attempts INTEGER NOT NULL DEFAULT 0,
      available_at INTEGER NOT NULL,
      claimed_by TEXT,
      claimed_until INTEGER NOT NULL DEFAULT 0,
      performed_at INTEGER,
      last_error TEXT
    )`,
    "CREATE INDEX nerv_effects_by_status ON nerv_effects (status, seq)"
  )
}

/** Brings a journal database up to date (idempotent; each migration runs once, in a transaction). */
export const migrate = SqliteMigrator.make({})({
  loader: SqliteMigrator.fromRecord(migrations),
  table: "nerv_migrations"
})
