import { PayloadCodec, SqliteJournal } from "@nerv/store"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as DataKeys from "../../src/security/DataKeys.js"
import * as Keyring from "../../src/security/Keyring.js"
import * as KeyStore from "../../src/security/KeyStore.js"

/** A SQLite database in a fresh temporary file, removed when the layer's scope closes. */
export const sqliteLayer = Layer.unwrapScoped(
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-security-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    ),
    (dir) => SqliteJournal.layerClient({ filename: join(dir, "journal.db") })
  )
)

/** The plain inner codec a journal would use: JSON bytes as they are. */
export const jsonCodec: PayloadCodec.PayloadCodecService = {
  encode: (json) => Effect.succeed({ encoding: "json", data: json }),
  decode: (stored, row) =>
    stored.encoding === "json"
      ? Effect.succeed(stored.data)
      : Effect.fail(
        new PayloadCodec.PayloadCorrupt({
          documentId: row.documentId,
          version: row.version,
          reason: `unknown encoding ${stored.encoding}`
        })
      )
}

export const jsonCodecLayer = Layer.succeed(PayloadCodec.PayloadCodec, jsonCodec)

export const masterKeys = {
  k1: Keyring.generate("k1"),
  k2: Keyring.generate("k2")
}

/** Data keys over an in-memory key store and the given master keys. */
export const dataKeysMemory = (keys: string) =>
  DataKeys.layer().pipe(Layer.provide(Layer.merge(Keyring.layer(keys), KeyStore.layerMemory)))

export const text = (s: string) => new TextEncoder().encode(s)
export const untext = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
