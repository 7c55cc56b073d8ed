/**
 * Where a command's content comes from: `--content` (an argument, which a shell limits to
 * ~128 KiB), or `--content-file` (a file, or standard input with `-`), read as UTF-8 up to what a
 * document holds.
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import { Errors } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import { UsageError } from "./Output.js"

/**
 * The options a command takes its content with.
 *
 * @since 0.1.0
 */
export const options = {
  content: Options.text("content").pipe(
    Options.optional,
    Options.withDescription("the content, as an argument (a shell takes up to ~128 KiB)")
  ),
  contentFile: Options.text("content-file").pipe(
    Options.optional,
    Options.withDescription("read the content from this file (UTF-8), or from standard input with -")
  )
}

/** Content is at most 1,000,000 characters, so never more than 3 bytes each in UTF-8. */
const maxContentBytes = 3_000_000

const unreadable = (source: string, details: string) =>
  new Errors.InvalidInput({ operation: `--content-file ${source}`, details })

const tooLarge = (source: string) => unreadable(source, "content is at most 1,000,000 characters")

const utf8 = (source: string, bytes: Uint8Array) =>
  Effect.try({
    try: () => new TextDecoder("utf-8", { fatal: true }).decode(bytes),
    catch: () => unreadable(source, "it is not UTF-8 text")
  })

const readStdin: Effect.Effect<Uint8Array, Errors.InvalidInput> = Effect.async((resume) => {
  const chunks: Array<Buffer> = []
  let size = 0
  const stdin = process.stdin
  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk
    size += bytes.length
    if (size > maxContentBytes) {
      cleanup()
      stdin.pause()
      resume(Effect.fail(tooLarge("-")))
    } else {
      chunks.push(bytes)
    }
  }
  const onEnd = () => {
    cleanup()
    resume(Effect.succeed(new Uint8Array(Buffer.concat(chunks))))
  }
  const onError = (error: Error) => {
    cleanup()
    resume(Effect.fail(unreadable("-", `standard input cannot be read: ${error.message}`)))
  }
  const cleanup = () => {
    stdin.off("data", onData)
    stdin.off("end", onEnd)
    stdin.off("error", onError)
  }
  stdin.on("data", onData)
  stdin.on("end", onEnd)
  stdin.on("error", onError)
  return Effect.sync(() => {
    cleanup()
    stdin.pause()
  })
})

const readFile = (file: string): Effect.Effect<Uint8Array, Errors.InvalidInput> =>
  Effect.suspend(() => {
    let fd: number
    try {
      fd = Fs.openSync(file, "r")
    } catch (error) {
      const code = (error as { readonly code?: unknown }).code
      return Effect.fail(unreadable(
        file,
        code === "ENOENT"
          ? "there is no such file"
          : code === "EISDIR"
          ? "it is a folder, not a file"
          : `it cannot be read (${String(code ?? "error")})`
      ))
    }
    try {
      const stat = Fs.fstatSync(fd)
      if (stat.isDirectory()) return Effect.fail(unreadable(file, "it is a folder, not a file"))
      if (stat.isFile() && stat.size > maxContentBytes) return Effect.fail(tooLarge(file))
      // Read in pieces up to the limit: a pipe or a device says no size in advance.
      const chunks: Array<Buffer> = []
      let size = 0
      const buffer = Buffer.alloc(64 * 1024)
      while (true) {
        const read = Fs.readSync(fd, buffer, 0, buffer.length, null)
        if (read === 0) break
        size += read
        if (size > maxContentBytes) return Effect.fail(tooLarge(file))
        chunks.push(Buffer.from(buffer.subarray(0, read)))
      }
      return Effect.succeed(new Uint8Array(Buffer.concat(chunks)))
    } catch (error) {
      return Effect.fail(unreadable(file, `it cannot be read (${(error as Error).message})`))
    } finally {
      Fs.closeSync(fd)
    }
  })

/**
 * The content a command was given, if any: from `--content`, or read from `--content-file`. Both
 * at once is a `UsageError`; a file or stream that cannot be taken is `InvalidInput`.
 *
 * @since 0.1.0
 */
export const contentOf = (input: {
  readonly content: Option.Option<string>
  readonly contentFile: Option.Option<string>
}): Effect.Effect<Option.Option<string>, UsageError | Errors.InvalidInput> => {
  if (Option.isSome(input.content) && Option.isSome(input.contentFile)) {
    return Effect.fail(new UsageError({ message: "give the content with --content or --content-file, not both" }))
  }
  return Option.match(input.contentFile, {
    onNone: () => Effect.succeed(input.content),
    onSome: (source) =>
      Effect.map(
        Effect.flatMap(source === "-" ? readStdin : readFile(source), (bytes) => utf8(source, bytes)),
        Option.some
      )
  })
}
