/**
 * `nerv inspect`: serves the time-travel inspector (see `Inspector`) on this machine, reading the
 * database as the principal `--as` names, until Ctrl-C. Prints the page's address on stdout.
 *
 * ```sh
 * nerv inspect --as ann --role reader            # http://127.0.0.1:4680/
 * nerv inspect --as ann --role reader --port 0   # any free port
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
import * as Rbac from "../security/Rbac.js"
import { say } from "./Output.js"

const loopback = new Set(["127.0.0.1", "::1", "localhost"])

/**
 * The `inspect` subcommand.
 *
 * @since 0.1.0
 */
export const command: Command.Command<
  "inspect",
  Exclude<Inspector.Services, Rbac.Policy>,
  unknown,
  {
    readonly as: string
    readonly roles: Array<string>
    readonly port: number
    readonly host: Option.Option<string>
  }
> = Command.make("inspect", {
  as: Options.text("as").pipe(Options.withDescription("the principal the page reads as (recorded in the audit)")),
  roles: Options.text("role").pipe(
    Options.repeated,
    Options.withDescription("a role of the principal (repeatable), granted by NERV_RBAC_POLICY")
  ),
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
    if (!loopback.has(host)) {
      yield* Console.error(
        `warning: the inspector listens on ${host}: whoever reaches that address reads as ${input.as}`
      )
    }
    const running = yield* Inspector.serve({
      principal: { id: input.as, roles: input.roles },
      port: input.port,
      host
    })
    yield* say(running.url)
    yield* Console.error(`the inspector reads as ${input.as}; Ctrl-C stops it`)
    return yield* Effect.never
  }))).pipe(
    Command.withDescription("serve the time-travel inspector on this machine (needs documents:read)"),
    Command.provide(Rbac.layerPolicyConfig)
  )
