/**
 * Decoding what a caller hands a program: strictly (a field the schema does not know is refused,
 * not dropped, so a misspelt `contnet` never passes as an update of nothing), with every problem
 * reported, as an `InvalidInput` naming the operation.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import { InvalidInput } from "./Errors.js"
import * as internal from "./internal/explain.js"

const fieldCache = new WeakMap<AST.TypeLiteral, Map<PropertyKey, AST.PropertySignature>>()
const fieldsOf = (ast: AST.TypeLiteral) => {
  let fields = fieldCache.get(ast)
  if (fields === undefined) {
    fields = new Map(ast.propertySignatures.map((signature) => [signature.name, signature]))
    fieldCache.set(ast, fields)
  }
  return fields
}

/**
 * Could `input` hold a field that `ast` does not declare, at any depth? `false` is a promise (every
 * own key of every object is declared); `true` may be a false alarm, for shapes this does not walk.
 */
const mayHaveUnknownFields = (ast: AST.AST, input: unknown): boolean => {
  switch (ast._tag) {
    case "Refinement":
    case "Transformation":
      return mayHaveUnknownFields(ast.from, input)
    case "TypeLiteral": {
      if (typeof input !== "object" || input === null) return false
      if (ast.indexSignatures.length > 0) return true
      const fields = fieldsOf(ast)
      for (const key of Reflect.ownKeys(input)) {
        const field = fields.get(key)
        if (field === undefined || mayHaveUnknownFields(field.type, (input as Record<PropertyKey, unknown>)[key])) {
          return true
        }
      }
      return false
    }
    case "Union":
    case "TupleType":
    case "Suspend":
    case "Declaration":
      return typeof input === "object" && input !== null
    default:
      return false
  }
}

/** How deep, and how far, the decoders look into an input: far more than any operation's own schema. */
const maxDepth = 32
const maxFields = 10_000

/**
 * Why `input` cannot be decoded and explained safely, or `undefined` if it can: an input nested
 * deeper than `maxDepth` (the Schema's explanation of it, which quotes it, would exhaust the
 * stack), one with more than `maxFields` fields and elements in all (explaining each would take a
 * second and a message of megabytes), or one whose keys or fields throw when they are read (a
 * throwing getter, a `Proxy`).
 * Walks with a stack of its own rather than by recursion, so a deep input cannot exhaust the
 * call stack here either.
 */
const hostile = (input: unknown): string | undefined => {
  const pending: Array<{ readonly value: unknown; readonly depth: number; readonly path: string }> = [
    { value: input, depth: 0, path: "the input" }
  ]
  let fields = 0
  while (pending.length > 0) {
    const { depth, path, value } = pending.pop()!
    if (typeof value !== "object" || value === null) continue
    if (depth >= maxDepth) return `${path} is nested more than ${maxDepth} levels deep`
    let keys: Array<PropertyKey>
    try {
      keys = Reflect.ownKeys(value)
    } catch {
      return `the fields of ${path} cannot be listed (listing them threw an exception)`
    }
    fields += keys.length
    if (fields > maxFields) return `the input has more than ${maxFields} fields and elements in all`
    for (const key of keys) {
      const at = `${path}${typeof key === "symbol" ? "[symbol]" : `.${describeKey(key)}`}`
      try {
        pending.push({ value: (value as Record<PropertyKey, unknown>)[key], depth: depth + 1, path: at })
      } catch {
        return `${at} cannot be read (reading it threw an exception)`
      }
    }
  }
  return undefined
}

/**
 * Whether JSON text nests arrays and objects more than `max` levels deep (default 64), found by a
 * scan of the text, before anything parses or decodes it: decoding and explaining a value nested
 * thousands deep exhausts the call stack, and nothing NERV reads nests more than a few levels.
 *
 * @since 0.1.0
 */
export const jsonTooDeep = (json: string, max = 64): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < json.length; i++) {
    const char = json.charCodeAt(i)
    if (inString) {
      if (char === 92) i++ // a backslash escapes the next character
      else if (char === 34) inString = false
    } else if (char === 34) {
      inString = true
    } else if (char === 91 || char === 123) {
      if (++depth > max) return true
    } else if (char === 93 || char === 125) {
      depth--
    }
  }
  return false
}

/** A key as a path segment, shortened and with control characters escaped, for a message. */
const describeKey = (key: string | number): string => {
  const text = JSON.stringify(String(key)).slice(1, -1)
  return text.length > 40 ? `${text.slice(0, 40)}…` : text
}

/**
 * A decoder for one operation's input, compiled once (Schema memoises its parsers per schema, so a
 * schema built on every call would be compiled on every call).
 *
 * Well-formed input, the common case on every command, takes the cheap road: the schema's default
 * decoder, which stops at the first problem and does not look for unknown fields, behind a walk
 * that checks no object holds a field the schema does not declare. Anything else takes the strict
 * decoder (`errors: "all"`, `onExcessProperty: "error"`), whose verdict and messages are final. The
 * result is the strict decoder's in every case, at about a third of its cost on good input.
 *
 * Input of any shape gets a verdict, never a defect: before the strict decoder explains a refusal,
 * a walk refuses input nested too deep to explain or that throws when read (getters, proxies), and
 * anything that still throws while being decoded is refused as unreadable.
 *
 * @since 0.1.0
 */
export const decoder = <A, I>(operation: string, schema: Schema.Schema<A, I>) => {
  const lenient = Schema.decodeUnknownEither(schema)
  const strict = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })
  const refuse = (details: string) => Effect.fail(new InvalidInput({ operation, details }))
  return (input: unknown): Effect.Effect<A, InvalidInput> => {
    try {
      if (!mayHaveUnknownFields(schema.ast, input)) {
        const decoded = lenient(input)
        if (Either.isRight(decoded)) return Effect.succeed(decoded.right)
      }
    } catch {
      // A getter or a proxy threw: the walk below says where.
    }
    try {
      const problem = hostile(input)
      if (problem !== undefined) return refuse(problem)
      return Either.mapLeft(strict(input), (error) => InvalidInput.fromParseError(operation, error))
    } catch {
      return refuse("the input cannot be read (reading it threw an exception)")
    }
  }
}

const shorten = (text: string, max: number) => text.length > max ? `${text.slice(0, max)}…` : text

const pathOf = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((key) => {
    if (typeof key === "number") return `[${key}]`
    if (typeof key === "symbol") return "[symbol]"
    return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `.${shorten(key, 40)}` : `["${describeKey(key)}"]`
  }).join("").replace(/^\./, "")

/**
 * A short explanation of a Schema failure, for configuration read by a person: one line per place
 * that is wrong (`roles.editor[0]: expected one of "documents:read", …, "*"; got "documents:reed"`),
 * where the tree format would spell out every type the value was matched against. A union's
 * alternatives are merged into one line.
 *
 * @since 0.1.0
 */
export const summarize = (error: ParseResult.ParseError): string => {
  try {
    return summarizeIssues(error)
  } catch {
    return internal.explain(error)
  }
}

/**
 * The Schema's tree-formatted explanation of a failure, bounded in length, as `InvalidInput`
 * carries it; a value too deeply nested or too hostile to quote gets a short statement instead.
 * Never throws, whatever the value that failed.
 *
 * @since 0.1.0
 */
export const explain: (error: ParseResult.ParseError) => string = internal.explain

const summarizeIssues = (error: ParseResult.ParseError): string => {
  const places = new Map<
    string,
    { readonly expected: Array<string>; actual: string | undefined; others: Array<string> }
  >()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const path = pathOf(issue.path)
    const place = places.get(path) ?? { expected: [], actual: undefined, others: [] }
    places.set(path, place)
    const mismatch = /^Expected (.*), actual (.*)$/s.exec(issue.message)
    if (mismatch !== null) {
      place.expected.push(shorten(mismatch[1]!, 80))
      place.actual = shorten(mismatch[2]!, 80)
    } else {
      place.others.push(shorten(issue.message, 200))
    }
  }
  const lines: Array<string> = []
  for (const [path, place] of places) {
    const at = path === "" ? "" : `${path}: `
    if (place.expected.length > 0) {
      const expected = place.expected.length === 1 ? place.expected[0] : `one of ${place.expected.join(", ")}`
      lines.push(`${at}expected ${expected}; got ${place.actual}`)
    }
    for (const other of place.others) lines.push(`${at}${other}`)
  }
  return lines.slice(0, 20).join("\n") + (lines.length > 20 ? `\n… and ${lines.length - 20} more problems` : "")
}
