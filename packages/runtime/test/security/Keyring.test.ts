import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Keyring from "../../src/security/Keyring.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const secret32 = Buffer.alloc(32, 7).toString("base64")

describe("Keyring", () => {
  it.effect("reads NERV_MASTER_KEYS, the first key sealing and the others opening", () =>
    Effect.gen(function*() {
      const keyring = yield* Keyring.config.pipe(withEnv({ NERV_MASTER_KEYS: `new:${secret32}, old:${secret32}` }))
      assert.strictEqual(keyring.active.id, "new")
      assert.deepStrictEqual(keyring.ids, ["new", "old"])
      assert.isDefined(keyring.get("old"))
      assert.isUndefined(keyring.get("other"))
    }))

  it.effect("reads a key file with newlines and comments when NERV_MASTER_KEYS is not set", () =>
    Effect.gen(function*() {
      const file = join(mkdtempSync(join(tmpdir(), "nerv-keys-")), "keys")
      writeFileSync(file, `# rotated 2026-11\nk2:${secret32}\n\nk1:${secret32}  # retire after rewrap\n`)
      const keyring = yield* Keyring.config.pipe(withEnv({ NERV_MASTER_KEYS_FILE: file }))
      assert.deepStrictEqual(keyring.ids, ["k2", "k1"])
      const missing = yield* Keyring.config.pipe(withEnv({ NERV_MASTER_KEYS_FILE: `${file}.missing` }), Effect.flip)
      assert.include(String(missing), "cannot read the master key file")
    }))

  it.effect("says what to set when no key is configured", () =>
    Effect.gen(function*() {
      const error = yield* Keyring.config.pipe(withEnv({}), Effect.flip)
      assert.include(String(error), "NERV_MASTER_KEYS")
      assert.include(String(error), "NERV_ENCRYPTION=off")
    }))

  it("explains bad keys without ever quoting key material", () => {
    const short = Buffer.alloc(16, 9).toString("base64")
    const cases: ReadonlyArray<readonly [string, string]> = [
      [`k1:${short}`, "16 bytes; AES-256 needs exactly 32"],
      [`k1:not*base64!`, "not valid base64"],
      [`k1${secret32}`, "not of the form id:base64"],
      [`bad id:${secret32}`, "a key id is 1 to 64"],
      [`k1:${secret32},k1:${secret32}`, "same id"],
      [``, "at least one master key"]
    ]
    for (const [text, expected] of cases) {
      const result = Keyring.parse(text)
      assert.isTrue(Either.isLeft(result), text)
      const reason = Either.getLeft(result).pipe((o) => o._tag === "Some" ? o.value : "")
      assert.include(reason, expected)
      assert.notInclude(reason, short)
      assert.notInclude(reason, secret32)
      assert.notInclude(reason, "not*base64!")
    }
  })

  it("never throws, whatever the configuration text", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.string({ maxLength: 200 }), (text) => {
        Keyring.parse(text)
      }),
      { numRuns: 2_000 }
    )
  })

  it("generates keys it accepts", () => {
    const keyring = Keyring.parse(Keyring.generate("fresh"))
    assert.isTrue(Either.isRight(keyring))
  })
})
