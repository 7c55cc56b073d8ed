/**
 * The trained intent model at rest: one file, sealed whole with the master key (AES-256-GCM via
 * `Cipher`), so that neither the weights nor the vocabulary they reveal (the corpus's words) are
 * readable without the key. The sealed JSON carries the hash of the corpus it was trained on; a file
 * that does not open, does not parse, or was trained on another corpus is replaced by a model
 * trained again.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { CipherService } from "../security/Cipher.js"
import { fromJson, type Model, toJson } from "./intentModel.js"

/** Where the model in use came from. */
export type ModelSource = "sealed file" | "trained"

/** Binds a sealed model to its purpose: a sealed message of another kind never opens as a model. */
const aad = new TextEncoder().encode("nerv/intent-model/v1")

const read = (file: string) =>
  Effect.try({
    try: () => (Fs.existsSync(file) ? new Uint8Array(Fs.readFileSync(file)) : undefined),
    catch: (error) => (error instanceof Error ? error.message : String(error))
  })

const write = (file: string, bytes: Uint8Array) =>
  Effect.try({
    try: () => {
      Fs.mkdirSync(Path.dirname(file), { recursive: true })
      // Written aside and renamed: a reader never sees half a file.
      const temporary = `${file}.${process.pid}.tmp`
      Fs.writeFileSync(temporary, bytes, { mode: 0o600 })
      Fs.renameSync(temporary, file)
    },
    catch: (error) => (error instanceof Error ? error.message : String(error))
  })

/** Opens and checks a sealed model; says why not when it cannot be used. */
const unseal = (cipher: CipherService, sealed: Uint8Array, corpusHash: string) =>
  cipher.open(sealed, aad).pipe(
    Effect.mapError((error) => `it does not open (${error.reason})`),
    Effect.flatMap((bytes) => {
      const parsed = Either.try(() => JSON.parse(new TextDecoder().decode(bytes)) as unknown)
      if (Either.isLeft(parsed)) return Effect.fail("it is not a model")
      const { corpusHash: hash, model } = parsed.right as { readonly corpusHash?: unknown; readonly model?: unknown }
      if (hash !== corpusHash) return Effect.fail("it was trained on another corpus")
      const decoded = fromJson(model)
      return decoded === undefined ? Effect.fail("it is not a model") : Effect.succeed(decoded)
    })
  )

/**
 * The model sealed in `file` if it is usable, else one trained by `train` and sealed into `file`.
 */
export const loadOrTrain = (options: {
  readonly file: string
  readonly cipher: CipherService
  readonly corpusHash: string
  readonly train: Effect.Effect<Model>
}): Effect.Effect<{ readonly model: Model; readonly source: ModelSource }> =>
  Effect.gen(function*() {
    const { cipher, corpusHash, file } = options
    const sealed = yield* read(file).pipe(
      Effect.catchAll((reason) =>
        Effect.as(Effect.logWarning(`could not read the intent model ${file}: ${reason}; training it again`), undefined)
      )
    )
    if (sealed !== undefined) {
      const opened = yield* Effect.either(unseal(cipher, sealed, corpusHash))
      if (Either.isRight(opened)) return { model: opened.right, source: "sealed file" as const }
      // A changed corpus is routine; anything else means the file was damaged or tampered with.
      const say = opened.left === "it was trained on another corpus" ? Effect.logInfo : Effect.logWarning
      yield* say(`the intent model ${file} is not used: ${opened.left}; training it again from the corpus`)
    }
    const model = yield* options.train
    const bytes = yield* cipher.seal(
      new TextEncoder().encode(JSON.stringify({ corpusHash, model: toJson(model) })),
      aad
    )
    yield* write(file, bytes).pipe(
      Effect.catchAll((reason) =>
        Effect.logWarning(
          `could not save the intent model to ${file}: ${reason}; it will be trained again on the next start`
        )
      )
    )
    return { model, source: "trained" as const }
  })
