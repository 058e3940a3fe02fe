import type { ParseArgsConfig } from 'node:util'
import type { Config } from '../config/types.js'
import { VecgateError } from '../errors.js'
import { adminCall } from './admin-client.js'
import { parseDuration, parseActions } from './args.js'
import { journalCommands } from './journal.js'
import { demoCommands } from './demo.js'
import { identityCommands } from './identity.js'
import { terminalSafe } from './terminal.js'

export interface CommandContext {
  values: Record<string, any>
  positionals: string[]
  config: () => Config
  configPath: string
  out: NodeJS.WritableStream
  err: NodeJS.WritableStream
}

export interface Command {
  name: string
  summary: string
  help: string
  options: ParseArgsConfig['options']
  /** exit code; -1 = keep running (servers) */
  run: (ctx: CommandContext) => Promise<number>
}

const usage = (m: string): VecgateError => new VecgateError('VG_ERR_USAGE', m)

export { parseDuration, parseActions } from './args.js'

function ids (s: string | undefined): Array<string | number> | undefined {
  if (s === undefined) return undefined
  return s.split(',').map(x => x.trim()).filter(x => x !== '').map(x => /^\d{1,15}$/.test(x) ? Number(x) : x)
}

function print (ctx: CommandContext, json: unknown, text: string): void {
  ctx.out.write(ctx.values.json === true ? JSON.stringify(json) + '\n' : text + '\n')
}

export const commands: Command[] = [
  {
    name: 'start',
    summary: 'run the gateway (all backends in the config, admin API)',
    help: 'vecgate start [--config FILE]\n\nStarts every backend listener and the admin API. SIGTERM or Ctrl-C drains in-flight calls, then stops.\n\nExample:\n  npx vecgate start --config vecgate.yaml',
    options: { 'drain-timeout': { type: 'string' } },
    run: async (ctx) => {
      const { Gateway } = await import('../gateway.js')
      const gw = await Gateway.start(ctx.config())
      const lines = gw.listening.map(l => `${l.backend.name.padEnd(10)} ${l.backend.protocol.padEnd(8)} listening on ${l.host}:${l.port} → ${l.backend.upstream.host}:${l.backend.upstream.port}`)
      print(ctx, { listening: gw.listening.map(l => ({ backend: l.backend.name, protocol: l.backend.protocol, address: `${l.host}:${l.port}` })), admin: gw.admin?.url },
        [...lines, `admin      http     ${gw.admin?.url ?? ''}`].join('\n'))
      const drainTimeout = parseDuration(ctx.values['drain-timeout'] ?? '10s', '--drain-timeout') * 1000
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGTERM', stop)
          process.off('SIGINT', stop)
          gw.log.info('draining')
          void gw.drain(drainTimeout).finally(resolve)
        }
        process.on('SIGTERM', stop)
        process.on('SIGINT', stop)
      })
      return 0
    }
  },
  {
    name: 'token issue',
    summary: 'print a grant token signed with the gateway key (admin, local)',
    help: [
      'vecgate token issue --sub USER --backend NAME [--groups a,b] [--collection C]... [--actions read,search] [--ids 1,2] [--ttl 5m] [--uses N]',
      '',
      'Signs a short-lived grant with the gateway\'s key file (identity.signing_key; created when missing).',
      'The ttl is capped by identity.max_ttl. Present the token where the client sends its secret.',
      '',
      'Example:',
      '  npx vecgate token issue --sub analyst --groups analysts --backend qdrant --collection docs --actions read,search --ttl 5m'
    ].join('\n'),
    options: {
      sub: { type: 'string' },
      groups: { type: 'string' },
      backend: { type: 'string' },
      collection: { type: 'string', multiple: true },
      actions: { type: 'string' },
      ids: { type: 'string' },
      ttl: { type: 'string' },
      uses: { type: 'string' }
    },
    run: async (ctx) => {
      const v = ctx.values
      if (v.sub === undefined) throw usage('--sub is required (the subject the grant is for)')
      const config = ctx.config()
      if (v.backend !== undefined && !config.backends.some(b => b.name === v.backend)) {
        throw usage(`--backend: no backend named ${String(v.backend)} in ${config.file} (have ${config.backends.map(b => b.name).join(', ')})`)
      }
      const { loadOrCreateSigningKey } = await import('../identity/keys.js')
      const { Grants } = await import('../identity/grants.js')
      const key = await loadOrCreateSigningKey(config.identity.signing_key)
      const grants = new Grants(key, config.identity.audience, config.identity.max_ttl)
      const ttl = v.ttl !== undefined ? parseDuration(v.ttl, '--ttl') : config.identity.token_ttl
      const uses = v.uses !== undefined ? Number(v.uses) : undefined
      if (uses !== undefined && !(Number.isInteger(uses) && uses > 0)) throw usage('--uses: a whole number above 0')
      const g = await grants.issue({
        subject: v.sub,
        groups: v.groups?.split(',').filter((x: string) => x !== ''),
        backend: v.backend,
        collections: v.collection,
        actions: parseActions(v.actions),
        ids: ids(v.ids),
        uses,
        ttl
      })
      print(ctx, g, g.token)
      return 0
    }
  },
  {
    name: 'policy check',
    summary: 'explain which rule decides a request, without sending anything',
    help: 'vecgate policy check --as USER [--groups a,b] --backend NAME --action ACTION [--collection C] [--bulk] [--ids 1,2] [--limit N] [--with-vectors]\n\nExample:\n  npx vecgate policy check --as alice --groups analysts --backend qdrant --action search --collection docs',
    options: {
      as: { type: 'string' },
      groups: { type: 'string' },
      backend: { type: 'string' },
      action: { type: 'string' },
      collection: { type: 'string' },
      bulk: { type: 'boolean' },
      ids: { type: 'string' },
      limit: { type: 'string' },
      'with-vectors': { type: 'boolean' }
    },
    run: async (ctx) => {
      const v = ctx.values
      if (v.as === undefined || v.backend === undefined || v.action === undefined) throw usage('--as, --backend and --action are required')
      const config = ctx.config()
      const backend = config.backends.find(b => b.name === v.backend)
      if (backend === undefined) throw usage(`--backend: no backend named ${String(v.backend)}`)
      const action = parseActions(v.action)![0]
      const { compilePolicy } = await import('../policy/compile.js')
      const policy = compilePolicy(config.policy, { backends: config.backends.map(b => b.name), profiles: Object.keys(config.masking.profiles) })
      const identity = { subject: v.as, groups: v.groups?.split(',') ?? [], source: 'grant' as const, issuer: 'vecgate', expiresAt: Infinity, claims: {} }
      const op = {
        backend: backend.name,
        protocol: backend.protocol,
        method: `check/${action}`,
        action,
        collection: v.collection,
        ids: ids(v.ids),
        bulk: v.bulk === true,
        limit: v.limit !== undefined ? Number(v.limit) : undefined,
        withVectors: v['with-vectors'] === true,
        summary: {}
      }
      const explanation = policy.explain(identity, op) as { verdict: { effect: string, rule?: string, reason: string }, lines?: string[] }
      print(ctx, explanation, [`${explanation.verdict.effect.toUpperCase()}: ${explanation.verdict.reason}`, ...(explanation.lines ?? [])].join('\n'))
      return explanation.verdict.effect === 'allow' ? 0 : 3
    }
  },
  ...approvalCommands(),
  ...identityCommands,
  ...journalCommands,
  ...demoCommands
]

/**
 * Text a client chose (a reason, a statement, a name), made safe for the approver's terminal
 * (THREATS.md "Terminal injection"): C0 and C1 control characters and DEL are shown as \u escapes.
 */
export function printable (v: unknown, max = 300): string {
  const s = terminalSafe(String(v))
  return s.length > max ? s.slice(0, max - 1) + '…' : s
}

/** Where the approvals commands find who is asking and which gateway (lib/cli/admin-client.ts). */
function actsAs (): string {
  return 'Acts as you: --token, VECGATE_TOKEN, or the grant vecgate login stored. The gateway is --admin,\n' +
    "VECGATE_ADMIN, the stored grant's gateway, or admin.listen of the config."
}

function approvalCommands (): Command[] {
  const show = (a: any): string => [
    `${printable(a.id)}  ${printable(a.status)}  requested by ${printable(a.requester?.subject ?? a.requester)}`,
    `  what:    ${printable(a.op?.method ?? '')} ${printable(a.op?.collection ?? '')}${a.op?.bulk === true ? ' (bulk)' : ''}`,
    typeof a.op?.summary?.sql === 'string' ? `  sql:     ${printable(a.op.summary.sql, 500)}` : '',
    a.blastRadius !== undefined ? `  touches: ${printable(a.blastRadius)} records` : '',
    a.reason !== undefined ? `  reason:  ${printable(a.reason)}` : '',
    `  approve: vecgate approvals approve ${printable(a.id)}`
  ].filter(x => x !== '').join('\n')
  return [
    {
      name: 'approvals list',
      summary: 'list approvals (pending first)',
      help: `vecgate approvals list [--status pending|approved|denied|expired]\n\n${actsAs()}\n\nExample:\n  npx vecgate approvals list --status pending --admin http://127.0.0.1:7070 --token "$VECGATE_TOKEN"`,
      options: { status: { type: 'string' } },
      run: async (ctx) => {
        const q = ctx.values.status !== undefined ? `?status=${encodeURIComponent(ctx.values.status)}` : ''
        const r = await adminCall(ctx, 'GET', `/v1/approvals${q}`) as { approvals: any[] }
        print(ctx, r, r.approvals.length === 0 ? 'no approvals' : r.approvals.map(show).join('\n\n'))
        return 0
      }
    },
    {
      name: 'approvals show',
      summary: 'show one approval: who asked, what, blast radius',
      help: `vecgate approvals show ID\n\n${actsAs()}\n\nExample:\n  npx vecgate approvals show apr_k3j4h5g6f7`,
      options: {},
      run: async (ctx) => {
        const id = ctx.positionals[0]
        if (id === undefined) throw usage('approval id required')
        const a = await adminCall(ctx, 'GET', `/v1/approvals/${encodeURIComponent(id)}`)
        print(ctx, a, show(a))
        return 0
      }
    },
    ...(['approve', 'deny'] as const).map((verb): Command => ({
      name: `approvals ${verb}`,
      summary: `${verb} a held request (you must be an approver, not the requester)`,
      help: `vecgate approvals ${verb} ID [--reason TEXT]\n\n${actsAs()}\n\nExample:\n  npx vecgate approvals ${verb} apr_k3j4h5g6f7 --reason "ticket OPS-42"`,
      options: { reason: { type: 'string' } },
      run: async (ctx) => {
        const id = ctx.positionals[0]
        if (id === undefined) throw usage('approval id required')
        const a = await adminCall(ctx, 'POST', `/v1/approvals/${encodeURIComponent(id)}/${verb}`, { reason: ctx.values.reason })
        print(ctx, a, show(a))
        return 0
      }
    }))
  ]
}
