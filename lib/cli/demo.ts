/** `vecgate demo` (CONTRACT.md "Install and run"). */
import type { Command } from './commands.js'
import { VecgateError } from '../errors.js'

export const demoCommands: Command[] = [{
  name: 'demo',
  summary: 'pgvector with sample data behind vecgate: masking, an approval, a replay — offline',
  help: [
    'vecgate demo [--port 16432] [--admin-port 17070] [--json]',
    '',
    'Starts pgvector (PGlite, in this process) with sample documents that include personal data, vecgate in',
    'front of it with a demo policy (emails masked, embeddings rounded, a bulk DELETE held for approval), the',
    'admin API, and tokens for the analyst alice and the approver bob; prints the psql line to connect, the',
    'approval commands and the replay commands. Ctrl-C stops everything and removes the demo\'s files.',
    '',
    'Example:',
    '  npx vecgate demo'
  ].join('\n'),
  options: { port: { type: 'string' }, 'admin-port': { type: 'string' } },
  run: async (ctx) => {
    const num = (v: unknown, what: string): number | undefined => {
      if (v === undefined) return undefined
      const n = Number(v)
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new VecgateError('VG_ERR_USAGE', `${what}: expected a port number (got ${String(v)})`)
      return n
    }
    const { startDemo, demoText } = await import('../demo/demo.js')
    const demo = await startDemo({ port: num(ctx.values.port, '--port'), adminPort: num(ctx.values['admin-port'], '--admin-port') })
    ctx.out.write(ctx.values.json === true
      ? JSON.stringify({ psql: demo.psql, port: demo.pgPort, admin: demo.admin, tokens: demo.tokens }) + '\n'
      : demoText(demo) + '\n')
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        void demo.stop().finally(resolve)
      }
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
    return 0
  }
}]
