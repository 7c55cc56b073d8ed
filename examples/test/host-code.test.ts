import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")

describe("examples/host-code", () => {
  it("runs and prints the first version's content and the number of versions", () => {
    const stdout = execFileSync(process.execPath, ["--import", "tsx", "host-code.ts"], {
      cwd: join(root, "examples"),
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" }
    })
    assert.include(stdout.split("\n"), "Draft 2")
  })

  it("is the program the README shows", () => {
    const example = readFileSync(join(root, "examples", "host-code.ts"), "utf8")
    const readme = readFileSync(join(root, "README.md"), "utf8")
    const body = example.slice(example.indexOf("import { Documents }")).trim()
    assert.include(readme, body)
  })
})
