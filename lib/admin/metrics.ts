/**
 * Prometheus text exposition (https://prometheus.io/docs/instrumenting/exposition_formats/), kept
 * deliberately small: counters and one latency histogram, label sets fixed at first use so the hot path
 * is a Map lookup and an increment.
 */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

class Counter {
  readonly values = new Map<string, number>()
  constructor (readonly name: string, readonly help: string) {}
  inc (labels: string, by = 1): void { this.values.set(labels, (this.values.get(labels) ?? 0) + by) }
}

class Histogram {
  readonly series = new Map<string, { counts: number[], sum: number, count: number }>()
  constructor (readonly name: string, readonly help: string) {}
  observe (labels: string, seconds: number): void {
    let s = this.series.get(labels)
    if (s === undefined) { s = { counts: new Array<number>(BUCKETS.length).fill(0), sum: 0, count: 0 }; this.series.set(labels, s) }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]) { s.counts[i]++; break }
    s.sum += seconds
    s.count++
  }
}

/** label string in exposition syntax, built once per distinct label set by the caller */
export function labels (pairs: Record<string, string>): string {
  return Object.entries(pairs).map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, c => c === '\n' ? '\\n' : '\\' + c)}"`).join(',')
}

export class Metrics {
  readonly requests = new Counter('vecgate_requests_total', 'Requests decoded, by backend, action and verdict effect.')
  readonly refusals = new Counter('vecgate_refusals_total', 'Requests refused by the gateway, by backend and error code.')
  readonly upstreamErrors = new Counter('vecgate_upstream_errors_total', 'Upstream connection failures and resets, by backend.')
  readonly connections = new Counter('vecgate_connections_total', 'Client connections accepted, by backend.')
  readonly latency = new Histogram('vecgate_request_duration_seconds', 'Time from request decoded to response complete.')
  private readonly gauges = new Map<string, () => number>()

  gauge (name: string, read: () => number): void { this.gauges.set(name, read) }

  render (): string {
    const out: string[] = []
    for (const c of [this.requests, this.refusals, this.upstreamErrors, this.connections]) {
      out.push(`# HELP ${c.name} ${c.help}`, `# TYPE ${c.name} counter`)
      for (const [l, v] of c.values) out.push(`${c.name}{${l}} ${v}`)
    }
    const h = this.latency
    out.push(`# HELP ${h.name} ${h.help}`, `# TYPE ${h.name} histogram`)
    for (const [l, s] of h.series) {
      let cum = 0
      for (let i = 0; i < BUCKETS.length; i++) {
        cum += s.counts[i]
        out.push(`${h.name}_bucket{${l},le="${BUCKETS[i]}"} ${cum}`)
      }
      out.push(`${h.name}_bucket{${l},le="+Inf"} ${s.count}`, `${h.name}_sum{${l}} ${s.sum}`, `${h.name}_count{${l}} ${s.count}`)
    }
    for (const [name, read] of this.gauges) out.push(`# TYPE ${name} gauge`, `${name} ${read()}`)
    return out.join('\n') + '\n'
  }
}
