import * as Cause from "effect/Cause"
import * as Option from "effect/Option"

/** What a failed call failed with, for a log line or a span: its error's tag and message. */
export const describeFailure = <E>(cause: Cause.Cause<E>): { readonly error: string; readonly message: string } =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => ({ error: "Defect", message: Cause.pretty(cause) }),
    onSome: (failure) => {
      if (typeof failure === "object" && failure !== null) {
        const tag = "_tag" in failure && typeof failure._tag === "string" ? failure._tag : "Error"
        const message = "message" in failure && typeof failure.message === "string" ? failure.message : String(failure)
        return { error: tag, message }
      }
      return { error: "Error", message: String(failure) }
    }
  })
