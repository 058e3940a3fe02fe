/**
 * A test's own VECGATE_HOME with no VECGATE_TOKEN or VECGATE_ADMIN: the CLI finds the caller and the
 * gateway in those before the config, so a developer's own login must not leak into a test.
 * Everything is put back in teardown.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const KEYS = ['VECGATE_HOME', 'VECGATE_TOKEN', 'VECGATE_ADMIN'] as const

export function isolatedCliHome (t: { teardown: (fn: () => void) => void }): string {
  const home = mkdtempSync(join(tmpdir(), 'vecgate-home-'))
  const saved = KEYS.map(k => [k, process.env[k]] as const)
  process.env.VECGATE_HOME = home
  delete process.env.VECGATE_TOKEN
  delete process.env.VECGATE_ADMIN
  t.teardown(() => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k]; else process.env[k] = v
    }
    rmSync(home, { recursive: true, force: true })
  })
  return home
}
