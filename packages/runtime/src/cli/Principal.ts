/**
 * Who a command runs as. `--as` names a principal; without it, the command runs as the system user
 * (the name the operating system gives whoever runs `nerv`). Either way the policy, not the command
 * line, says what that principal may do: a name it does not know, or an empty one, is refused.
 *
 * The command line authenticates nobody: whoever runs it names the principal. What guards the data
 * on this machine is the file system (see docs/security.md, "The local command line").
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import { Access } from "@nerv/core"
import type * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { userInfo } from "node:os"

/**
 * The name of the system user running the command line (`USER` when the system has no name for it).
 *
 * @since 0.1.0
 */
export const systemUser = (): string => {
  try {
    return userInfo().username
  } catch {
    // A container's uid may have no name: an empty principal, which the guard refuses.
    return process.env["USER"] ?? process.env["LOGNAME"] ?? ""
  }
}

/**
 * The `--as` option.
 *
 * @since 0.1.0
 */
export const option = {
  as: Options.text("as").pipe(
    Options.optional,
    Options.withDescription(
      "the principal to run as, one the RBAC policy names (default: the system user); recorded in the audit"
    )
  )
}

/**
 * Runs a command's program as the principal `--as` names, or the system user.
 *
 * @since 0.1.0
 */
export const runAs =
  (input: { readonly as: Option.Option<string> }) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, Access.Principal>> =>
    Access.as(self, Option.getOrElse(input.as, systemUser))
