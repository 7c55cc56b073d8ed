/**
 * The master keys. They never seal document payloads themselves: they wrap the per-document data
 * keys (`DataKeys`) and seal messages on the wire (`BusCodec`).
 *
 * Configuration: `NERV_MASTER_KEYS="k2:BASE64,k1:BASE64"` (a secret, read with `Config.redacted`),
 * or `NERV_MASTER_KEYS_FILE=/path` to a file in the same format (commas or newlines, `#`
 * comments). The **first** key seals from now on; the others only open what they sealed before.
 * Rotating is: generate a key, put it first, restart, run `DataKeys.rewrap`, then drop the old key.
 *
 * @since 0.1.0
 */
import { Input } from "@nerv/core"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createSecretKey, randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { SecretKey } from "./Cipher.js"

// Kept in step with the envelope of `Cipher`, which stores the id in at most 64 bytes.
const keyIdPattern = /^[A-Za-z0-9._-]{1,64}$/
const keyLength = 32

/**
 * A key id: 1 to 64 of `A-Z a-z 0-9 . _ -`, stored beside everything the key seals.
 *
 * @since 0.1.0
 */
export const KeyId = Schema.String.pipe(
  Schema.filter((id) => keyIdPattern.test(id), {
    message: () => "a key id is 1 to 64 characters of A-Z a-z 0-9 . _ -"
  })
)

// Secrets must never reach an error message: every failure below describes, never quotes.
const KeyBytes = Schema.transformOrFail(Schema.String, Schema.Uint8ArrayFromSelf, {
  strict: true,
  decode: (text, _, ast) => {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      return ParseResult.fail(new ParseResult.Type(ast, "<redacted>", "the key is not valid base64"))
    }
    const bytes = Buffer.from(text, "base64")
    return bytes.length === keyLength
      ? ParseResult.succeed(new Uint8Array(bytes))
      : ParseResult.fail(
        new ParseResult.Type(
          ast,
          "<redacted>",
          `the key is ${bytes.length} bytes; AES-256 needs exactly ${keyLength} ` +
            `(make one with: openssl rand -base64 32)`
        )
      )
  },
  encode: (bytes) => ParseResult.succeed(Buffer.from(bytes).toString("base64"))
})

/**
 * One configured master key: its id and its 32 bytes.
 *
 * @since 0.1.0
 */
export const MasterKeySpec = Schema.Struct({ id: KeyId, key: KeyBytes })

const Entries = Schema.transformOrFail(
  Schema.String,
  Schema.Array(Schema.Struct({ id: Schema.String, key: Schema.String })),
  {
    strict: true,
    decode: (text, _, ast) => {
      const entries = text.split(/[,\n]/).map((line) => line.replace(/#.*$/, "").trim()).filter((line) => line !== "")
      const parsed: Array<{ id: string; key: string }> = []
      for (const [index, entry] of entries.entries()) {
        const colon = entry.indexOf(":")
        if (colon <= 0) {
          return ParseResult.fail(
            new ParseResult.Type(ast, "<redacted>", `entry ${index + 1} is not of the form id:base64`)
          )
        }
        parsed.push({ id: entry.slice(0, colon).trim(), key: entry.slice(colon + 1).trim() })
      }
      return ParseResult.succeed(parsed)
    },
    encode: (entries) => ParseResult.succeed(entries.map((entry) => `${entry.id}:${entry.key}`).join(","))
  }
)

/**
 * The master keys as configured: `id:base64` entries separated by commas or newlines, the first
 * one sealing. At least one key, and no id twice.
 *
 * @since 0.1.0
 */
export const MasterKeys = Schema.compose(Entries, Schema.Array(MasterKeySpec)).pipe(
  Schema.filter((keys) => keys.length > 0, { message: () => "at least one master key is needed" }),
  Schema.filter((keys) => new Set(keys.map((key) => key.id)).size === keys.length, {
    message: () => "two master keys have the same id"
  })
)

/**
 * @since 0.1.0
 */
export interface KeyringService {
  /** The key that seals from now on. */
  readonly active: SecretKey
  /** A key by id, to open what it sealed. */
  readonly get: (id: string) => SecretKey | undefined
  /** Every id, the active one first. */
  readonly ids: ReadonlyArray<string>
}

/**
 * The master keys of this process.
 *
 * @since 0.1.0
 */
export class Keyring extends Context.Tag("@nerv/runtime/Keyring")<Keyring, KeyringService>() {}

/**
 * A keyring from decoded keys, the first one active. Throws on an empty list (decoding refuses one).
 *
 * @since 0.1.0
 */
export const make = (keys: ReadonlyArray<typeof MasterKeySpec.Type>): KeyringService => {
  const first = keys[0]
  if (first === undefined) throw new Error("a keyring needs at least one master key")
  const byId = new Map(keys.map((spec) => [spec.id, { id: spec.id, key: createSecretKey(spec.key) }] as const))
  return { active: byId.get(first.id)!, get: (id) => byId.get(id), ids: keys.map((key) => key.id) }
}

/**
 * Decodes the configuration text of `NERV_MASTER_KEYS` into a keyring, or explains, without
 * quoting any key, what is wrong.
 *
 * @since 0.1.0
 */
export const parse = (text: string): Either.Either<KeyringService, string> =>
  Schema.decodeUnknownEither(MasterKeys)(text).pipe(
    Either.mapLeft(Input.summarize),
    Either.map(make)
  )

/**
 * A keyring layer from configuration text in the `NERV_MASTER_KEYS` format (tests, tools).
 *
 * @since 0.1.0
 */
export const layer = (text: string | Redacted.Redacted<string>): Layer.Layer<Keyring, ConfigError.ConfigError> =>
  Layer.effect(
    Keyring,
    Either.match(parse(Redacted.isRedacted(text) ? Redacted.value(text) : text), {
      onLeft: (reason) => Effect.fail(ConfigError.InvalidData([], `invalid master keys: ${reason}`)),
      onRight: Effect.succeed
    })
  )

const fromFile = (path: string) =>
  Effect.try({
    try: () => Redacted.make(Fs.readFileSync(path, "utf8")),
    catch: (error) =>
      ConfigError.InvalidData(
        ["NERV_MASTER_KEYS_FILE"],
        `cannot read the master key file ${path}: ${error instanceof Error ? error.message : String(error)}`
      )
  })

/**
 * The master keys as configuration: `NERV_MASTER_KEYS`, else the file named by
 * `NERV_MASTER_KEYS_FILE`. Fails with a `ConfigError` that says what to set when neither is.
 *
 * @since 0.1.0
 */
export const config: Effect.Effect<KeyringService, ConfigError.ConfigError> = Effect.gen(function*() {
  const inline = yield* Config.option(Config.redacted("NERV_MASTER_KEYS"))
  const text = Option.isSome(inline)
    ? inline.value
    : yield* Config.option(Config.string("NERV_MASTER_KEYS_FILE")).pipe(
      Effect.flatMap(Option.match({
        onSome: fromFile,
        onNone: () =>
          Effect.fail(
            ConfigError.MissingData(
              ["NERV_MASTER_KEYS"],
              "encryption is on but no master key is configured: set NERV_MASTER_KEYS=id:base64 " +
                "(openssl rand -base64 32) or NERV_MASTER_KEYS_FILE, or turn encryption off with " +
                "NERV_ENCRYPTION=off"
            )
          )
      }))
    )
  return yield* Either.match(parse(Redacted.value(text)), {
    onLeft: (reason) => Effect.fail(ConfigError.InvalidData(["NERV_MASTER_KEYS"], `invalid master keys: ${reason}`)),
    onRight: Effect.succeed
  })
})

/**
 * The keyring from configuration (see `config`).
 *
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<Keyring, ConfigError.ConfigError> = Layer.effect(Keyring, config)

/**
 * A new random master key in the configuration format, `id:base64`.
 *
 * @since 0.1.0
 */
export const generate = (id: string): string => {
  if (!keyIdPattern.test(id)) throw new Error("a key id is 1 to 64 characters of A-Z a-z 0-9 . _ -")
  return `${id}:${randomBytes(keyLength).toString("base64")}`
}

/**
 * What `configOrLocalFile` logs when it makes a key file: where the key is, and what to do with it.
 *
 * @since 0.1.0
 */
export const generatedWarning = (file: string): string =>
  `encryption at rest: no master key is configured (NERV_MASTER_KEYS / NERV_MASTER_KEYS_FILE), so one was ` +
  `generated in ${file} (mode 0600). Everything this database seals needs it: back it up, and for production ` +
  `move it to a secret store and point NERV_MASTER_KEYS_FILE at it.`

const localFileError = (file: string, what: string) =>
  ConfigError.InvalidData(["NERV_MASTER_KEYS_FILE"], `the local master key file ${file} ${what}`)

const readLocal = (file: string) =>
  Effect.gen(function*() {
    const text = yield* Effect.try({
      try: () => Fs.readFileSync(file, "utf8"),
      catch: (error) => localFileError(file, `cannot be read: ${error instanceof Error ? error.message : error}`)
    })
    const mode = yield* Effect.sync(() => Fs.statSync(file).mode)
    if ((mode & 0o077) !== 0) {
      yield* Effect.logWarning(
        `the master key file ${file} can be read by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 it`
      )
    }
    return yield* Either.match(parse(text), {
      onLeft: (reason) => Effect.fail(localFileError(file, `holds invalid master keys: ${reason}`)),
      onRight: Effect.succeed
    })
  })

/**
 * The master keys from configuration (see `config`) or, when none is configured, from a local key
 * file: read if it exists, else generated once (a random key, mode 0600, a warning saying where it
 * is and that it must be backed up). So a fresh checkout seals by default with nothing set, and
 * later runs read what earlier ones sealed.
 *
 * It never generates a key over sealed data: if `hasSealedData` says the database already holds
 * data keys while the file is missing, it fails and says to configure the key or restore the file
 * (a new key would not open anything sealed before).
 *
 * With `generate: false` (a reader that must not write, such as `nerv verify`), a missing file over
 * a database without sealed data gives a key held in memory only: there is nothing for it to open,
 * and nothing is written.
 *
 * @since 0.1.0
 */
export const configOrLocalFile = <E, R>(
  file: string,
  hasSealedData: Effect.Effect<boolean, E, R>,
  options?: { readonly generate?: boolean | undefined }
): Effect.Effect<KeyringService, ConfigError.ConfigError | E, R> =>
  Effect.gen(function*() {
    const inline = yield* Config.option(Config.redacted("NERV_MASTER_KEYS"))
    const named = yield* Config.option(Config.string("NERV_MASTER_KEYS_FILE"))
    if (Option.isSome(inline) || Option.isSome(named)) return yield* config
    if (Fs.existsSync(file)) return yield* readLocal(file)
    if (yield* hasSealedData) {
      return yield* Effect.fail(ConfigError.MissingData(
        ["NERV_MASTER_KEYS"],
        `the database holds sealed data but no master key is configured, and the local key file ${file} ` +
          `is missing: set NERV_MASTER_KEYS or NERV_MASTER_KEYS_FILE, or restore ${file} from its backup`
      ))
    }
    if (options?.generate === false) return make([{ id: "unsaved", key: randomBytes(keyLength) }])
    const id = `local-${new Date().toISOString().slice(0, 10)}`
    const created = yield* Effect.try({
      try: () => {
        Fs.mkdirSync(Path.dirname(file), { recursive: true })
        // No commas in the comments: commas separate entries in this format.
        const text = `# NERV master key generated ${new Date().toISOString()}. Keep it secret and back it up:\n` +
          `# without it nothing this database sealed can be read.\n${generate(id)}\n`
        try {
          // "wx": another process that got here first keeps its key, and this one reads it below.
          Fs.writeFileSync(file, text, { mode: 0o600, flag: "wx" })
          return true
        } catch (error) {
          if ((error as { readonly code?: unknown }).code === "EEXIST") return false
          throw error
        }
      },
      catch: (error) => localFileError(file, `cannot be written: ${error instanceof Error ? error.message : error}`)
    })
    if (created) yield* Effect.logWarning(generatedWarning(file))
    return yield* readLocal(file)
  })
