/**
 * The cost of encryption at rest, per event: NERV's sealing codec (`SealedPayloads`, sealing and
 * opening a 200-byte event payload for its row, through Effect, with the document's cached data
 * key) against a bare `node:crypto` AES-256-GCM round trip of the same bytes (fresh random IV,
 * associated data, tag check) and against plain JSON (stringify and parse, no crypto). Target:
 * nerv-cipher at least 0.8× node-crypto-raw.
 */
import { DataKeys, Keyring, KeyStore, SealedPayloads } from "@nerv/runtime"
import { PayloadCodec } from "@nerv/store"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"
import { type BenchContext, type BenchRecord, type Suite, summarize, throughput } from "../harness.js"

const workload = "seal+open 200 B"
const metric = "events/s"

/** A document event's payload as a journal row holds it, padded to exactly 200 bytes of JSON. */
const makePayload = () => {
  const base = { title: "Quarterly plan", content: "" }
  const json = JSON.stringify(base)
  const event = { ...base, content: "x".repeat(200 - json.length) }
  const bytes = new TextEncoder().encode(JSON.stringify(event))
  if (bytes.length !== 200) throw new Error(`payload is ${bytes.length} bytes, expected 200`)
  return { event, bytes }
}

const rows = Array.from({ length: 64 }, (_, i) => ({
  documentId: `00000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
  version: 1
}))

const nervCodec = () =>
  Effect.runSync(
    Effect.flatMap(PayloadCodec.PayloadCodec, Effect.succeed).pipe(
      Effect.provide(
        SealedPayloads.layer().pipe(
          Layer.provide(DataKeys.layer()),
          Layer.provide(
            Layer.mergeAll(
              Keyring.layer(Keyring.generate("bench")),
              KeyStore.layerMemory,
              Layer.succeed(PayloadCodec.PayloadCodec, PayloadCodec.json)
            )
          )
        )
      )
    )
  )

const equal = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

/** NERV: encode then decode every event through the codec, as a journal's write and read do. */
const runNerv = (codec: PayloadCodec.PayloadCodecService, payload: Uint8Array, events: number) =>
  Effect.runSync(Effect.gen(function*() {
    let checked = 0
    for (let i = 0; i < events; i++) {
      const row = rows[i & 63]!
      const stored = yield* codec.encode(payload, row)
      const opened = yield* codec.decode(stored, row)
      if (opened.length === payload.length) checked++
    }
    return checked
  }))

/** The same round trip on bare node:crypto: one key, a fresh IV each time, the row as associated data. */
const runRaw = (key: Buffer, payload: Uint8Array, events: number) => {
  let checked = 0
  for (let i = 0; i < events; i++) {
    const row = rows[i & 63]!
    const aad = Buffer.from(`${row.documentId}\0${row.version}`)
    const iv = randomBytes(12)
    const cipher = createCipheriv("aes-256-gcm", key, iv)
    cipher.setAAD(aad)
    const sealed = Buffer.concat([cipher.update(payload), cipher.final()])
    const tag = cipher.getAuthTag()
    const decipher = createDecipheriv("aes-256-gcm", key, iv)
    decipher.setAAD(aad)
    decipher.setAuthTag(tag)
    const opened = Buffer.concat([decipher.update(sealed), decipher.final()])
    if (opened.length === payload.length) checked++
  }
  return checked
}

/** No encryption at all: the event to JSON bytes and back. */
const runJson = (event: object, events: number) => {
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  let checked = 0
  for (let i = 0; i < events; i++) {
    const bytes = encoder.encode(JSON.stringify(event))
    const back = JSON.parse(decoder.decode(bytes)) as { title: string }
    if (back.title.length > 0) checked++
  }
  return checked
}

const run = async (context: BenchContext): Promise<ReadonlyArray<BenchRecord>> => {
  const { bytes, event } = makePayload()
  const codec = nervCodec()
  const key = randomBytes(32)
  // Correctness first: a benchmark of a codec that does not round-trip would measure nothing.
  const probe = Effect.runSync(Effect.flatMap(codec.encode(bytes, rows[0]!), (s) => codec.decode(s, rows[0]!)))
  if (!equal(probe, bytes)) throw new Error("the NERV codec did not round-trip the payload")
  const events = context.quick ? 20_000 : 100_000
  const expect = (n: number) => {
    if (n !== events) throw new Error(`only ${n} of ${events} events round-tripped`)
    return n
  }
  // Interleaved so that drift in the machine's load (other work on shared cores) hits all three alike.
  const samples = { nerv: [] as Array<number>, raw: [] as Array<number>, json: [] as Array<number> }
  const once = { runs: 1, warmup: 0, quick: context.quick }
  for (let i = 0; i < context.warmup; i++) {
    runNerv(codec, bytes, events)
    runRaw(key, bytes, events)
    runJson(event, events)
  }
  for (let i = 0; i < context.runs; i++) {
    samples.nerv.push(...(await throughput(once, async () => expect(runNerv(codec, bytes, events)))))
    samples.raw.push(...(await throughput(once, async () => expect(runRaw(key, bytes, events)))))
    samples.json.push(...(await throughput(once, async () => expect(runJson(event, events)))))
  }
  const records = [
    summarize(workload, "nerv-cipher", metric, samples.nerv),
    summarize(workload, "node-crypto-raw", metric, samples.raw),
    summarize(workload, "json-only", metric, samples.json)
  ]
  const ratio = records[0]!.median / records[1]!.median
  console.log(
    `  ${workload}: nerv-cipher ${records[0]!.median.toFixed(0)} ${metric}, node-crypto-raw ` +
      `${records[1]!.median.toFixed(0)}, json-only ${records[2]!.median.toFixed(0)}; ` +
      `nerv/raw = ${ratio.toFixed(2)}× (target ≥ 0.80×)`
  )
  return records
}

/**
 * The cipher suite: `seal+open 200 B` for nerv-cipher, node-crypto-raw and json-only.
 *
 * @since 0.1.0
 */
export const cipher: Suite = { name: "cipher", run }
