/**
 * `nerv inspect`: serves the time-travel inspector (see `Inspector`) on this machine, reading the
 * database as the principal `--as` names, until Ctrl-C. Prints the page's address on stdout.
 *
 * ```sh
 * nerv inspect --as ann            # http://127.0.0.1:4680/
 * nerv inspect --as ann --port 0   # any free port
 * ```
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Inspector from "../Inspector.js"
import { say } from "./Output.js"
import * as Principal from "./Principal.js"

const loopback = new Set(["127.0.0.1", "::1", "localhost"])

/**
 * The `inspect` subcommand.
 *
 * @since 0.1.0
 */
export const command: Command.Command<
  "inspect",
  Inspector.Services,
  unknown,
  {
    readonly as: Option.Option<string>
    readonly port: number
    readonly host: Option.Option<string>
  }
> = Command.make("inspect", {
  ...Principal.option,
  port: Options.integer("port").pipe(
    Options.withDefault(Inspector.defaultPort),
    Options.withDescription(`the port to listen on (default ${Inspector.defaultPort}; 0: any free port)`)
  ),
  host: Options.text("host").pipe(
    Options.optional,
    Options.withDescription("the address to listen on (default 127.0.0.1: this machine only)")
  )
}, (input) =>
  Effect.scoped(Effect.gen(function*() {
    const host = Option.getOrElse(input.host, () => "127.0.0.1")
    const as = Option.getOrElse(input.as, Principal.systemUser)
    if (!loopback.has(host)) {
      yield* Console.error(
        `warning: the inspector listens on ${host}: whoever reaches that address reads as ${as}`
      )
    }
    const running = yield* Inspector.serve({
      principal: as,
      port: input.port,
      host
    })
    yield* say(running.url)
    yield* Console.error(`the inspector reads as ${as}; Ctrl-C stops it`)
    return yield* Effect.never
  }))).pipe(
    Command.withDescription("serve the time-travel inspector on this machine (needs documents:read)")
  )
