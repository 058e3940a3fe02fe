/**
 * THREATS.md "Operators … secrets come from env or files, never inline in examples that get copied to
 * production": every configuration shown in README.md takes each backend
 * secret (password, api_key, token) from `${ENV}` or `file:`, and the example still loads.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { parse } from 'yaml'
import { parseConfig } from '../../../lib/config/load.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const SECRET_KEYS = ['password', 'api_key', 'token']
const fromEnvOrFile = (v: unknown): boolean => typeof v === 'string' && (/^\$\{[A-Z0-9_]+\}$/.test(v) || v.startsWith('file:'))

function yamlBlocks (file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/```ya?ml\n([\s\S]*?)```/g)].map(m => m[1])
}

const docs = [join(root, 'README.md')]

t.test('configuration examples take secrets from env or files', async t => {
  let configs = 0
  for (const file of docs) {
    for (const block of yamlBlocks(file)) {
      const doc = parse(block) as { backends?: Array<{ name: string, credentials?: Record<string, unknown> }> }
      if (!Array.isArray(doc?.backends)) continue
      configs++
      for (const b of doc.backends) {
        for (const k of SECRET_KEYS) {
          if (b.credentials?.[k] !== undefined) t.ok(fromEnvOrFile(b.credentials[k]), `${file}: backends ${b.name} credentials.${k} comes from env or a file`)
        }
      }
      const env = Object.fromEntries([...block.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map(m => [m[1], 'x']))
      t.doesNotThrow(() => parseConfig(doc, join(root, 'vecgate.yaml'), env), `${file}: the example loads`)
    }
  }
  t.ok(configs > 0, 'README.md shows at least one configuration')
})
