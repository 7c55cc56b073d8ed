/**
 * How the command line talks to whoever runs it: results on stdout, everything else on stderr,
 * control characters escaped, colours only where colour is seen, and an exit status that says what
 * happened (`ExitCode`). Every failure of a command comes here to be reported.
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import type { Errors } from "@nerv/core"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { escapeAroundAnsi, escapeControl, escapeLines, safeJson, stripAnsi } from "../internal/terminal.js"

/**
 * The exit status of `nerv`:
 * - `ok` (0): done;
 * - `refused` (1): an expected refusal: bad input, an unknown document, a conflict, a denied
 *   permission, a missing or unusable database, bad configuration. Nothing was changed;
 * - `usage` (2): the command line itself is wrong (an unknown command or option, a missing
 *   argument); the usage is printed;
 * - `damaged` (3): damage was found: `nerv verify` found damaged rows, `nerv audit verify` a broken
 *   chain, or a command met a damaged row;
 * - `bug` (70): an unexpected failure, a bug in NERV (printed with its stack trace).
 *
 * @since 0.1.0
 */
export const ExitCode = { ok: 0, refused: 1, usage: 2, damaged: 3, bug: 70 } as const

/**
 * A command line the parser took but that cannot be run as given (two sources for one value, an
 * empty path): exit status 2, like the parser's own refusals.
 *
 * @since 0.1.0
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/**
 * One line of human output on stdout, with its control characters escaped.
 *
 * @since 0.1.0
 */
export const say = (text: string) => Console.log(escapeControl(text))

/**
 * A value as JSON on stdout, with the characters a terminal acts on escaped.
 *
 * @since 0.1.0
 */
export const sayJson = (value: unknown) => Console.log(safeJson(value))

/**
 * Sets the exit status the process ends with.
 *
 * @since 0.1.0
 */
export const exitWith = (code: number) =>
  Effect.sync(() => {
    process.exitCode = code
  })

/** A configuration error as lines naming the variable at fault: `NERV_RBAC_POLICY: …`. */
const describeConfigError = (error: ConfigError.ConfigError): Array<string> => {
  switch (error._op) {
    case "And":
    case "Or":
      return [...describeConfigError(error.left), ...describeConfigError(error.right)]
    case "InvalidData":
    case "MissingData":
    case "SourceUnavailable":
    case "Unsupported":
      if (error.path.length === 0 || error.message.startsWith(error.path.join("_"))) return [error.message]
      return [`${error.path.join("_")}: ${error.message}`]
  }
}

const isTagged = (error: unknown): error is { readonly _tag: string; readonly message: string } =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string" &&
  "message" in error && typeof error.message === "string"

/** Whether an error is (or was caused by) a damaged journal row. */
const isDamage = (error: { readonly _tag: string }): boolean =>
  error._tag === "RowDamaged" ||
  (error._tag === "JournalError" && isTagged((error as Errors.JournalError).cause) &&
    ((error as Errors.JournalError).cause as { readonly _tag: string })._tag === "RowDamaged")

/**
 * Prints why a command failed, on stderr, and sets the exit status (see `ExitCode`): a line or two
 * naming what is at fault, and a stack trace only for a bug.
 *
 * @since 0.1.0
 */
export const report = (cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure) || Cause.isDie(cause)) {
    return Effect.zipRight(
      Console.error(escapeLines(
        `nerv: internal error, a bug in NERV (please report it with the command that caused it):\n${
          Cause.pretty(cause, { renderErrorCause: true })
        }`
      )),
      exitWith(ExitCode.bug)
    )
  }
  const error = failure.value
  // @effect/cli has printed what is wrong with the command line, and the usage.
  if (ValidationError.isValidationError(error)) return exitWith(ExitCode.usage)
  if (error instanceof UsageError) {
    return Effect.zipRight(Console.error(escapeControl(`nerv: ${error.message}`)), exitWith(ExitCode.usage))
  }
  if (ConfigError.isConfigError(error)) {
    return Effect.zipRight(
      Console.error(escapeLines(`configuration error: ${describeConfigError(error).join("\n")}`)),
      exitWith(ExitCode.refused)
    )
  }
  if (isTagged(error)) {
    const damaged = isDamage(error)
    return Effect.zipRight(
      Console.error(escapeLines(
        `${error._tag}: ${error.message}` + (damaged ? "\n(nerv verify lists every damaged row)" : "")
      )),
      exitWith(damaged ? ExitCode.damaged : ExitCode.refused)
    )
  }
  return Effect.zipRight(Console.error(escapeLines(String(error))), exitWith(ExitCode.refused))
}

const levelColors: Record<string, string> = { WARN: "\u001b[33m", ERROR: "\u001b[31m", FATAL: "\u001b[31m" }

/**
 * Log lines on stderr, one per entry (`warning: …`), escaped, coloured only where colour is seen.
 *
 * @since 0.1.0
 */
export const stderrLogger = (colors: boolean) =>
  Logger.make(({ logLevel, message }) => {
    const text = (Array.isArray(message) ? message : [message]).map((part) =>
      typeof part === "string" ? part : Cause.isCause(part) ? Cause.pretty(part) : String(part)
    ).join(" ")
    const label = logLevel._tag === "Warning" ? "warning" : logLevel.label.toLowerCase()
    const color = colors ? levelColors[logLevel.label] : undefined
    globalThis.console.error(`${color === undefined ? label : `${color}${label}\u001b[0m`}: ${escapeLines(text)}`)
  })

/**
 * What reaches a stream: @effect/cli's colours kept only where colour is wanted, and any other
 * control character escaped (@effect/cli quotes what it was given in its errors, as it was given).
 */
const forTerminal = (colors: boolean) => (arg: unknown) =>
  typeof arg !== "string" ? arg : colors ? escapeAroundAnsi(arg) : escapeLines(stripAnsi(arg))

/**
 * The console every line of the command line goes through (see `forTerminal`).
 *
 * @since 0.1.0
 */
export const terminalConsole = (
  console: Console.Console,
  colors: { readonly stdout: boolean; readonly stderr: boolean }
): Console.Console =>
  ({
    ...console,
    log: (...args: ReadonlyArray<unknown>) => console.log(...args.map(forTerminal(colors.stdout))),
    error: (...args: ReadonlyArray<unknown>) => console.error(...args.map(forTerminal(colors.stderr)))
  }) satisfies Console.Console
