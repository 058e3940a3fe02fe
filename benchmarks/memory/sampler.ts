/**
 * Resident memory of the process under test, sampled while a scenario runs: the peak of VmRSS over
 * the samples and the kernel's own high-water mark (VmHWM, which also sees spikes between samples).
 */
import { readFileSync, writeFileSync } from 'node:fs'

export interface RssSample { baseline: number, peak: number, hwm: number }

function status (pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) / 1024
}

/**
 * Runs `scenario` while sampling `pid` every `everyMs`; `baseline` is VmRSS just before it starts.
 * VmHWM is reset per scenario where the kernel lets us (writing 5 to /proc/PID/clear_refs), else it
 * covers the process's whole life and `hwm` is reported as it is.
 */
export async function sampleRss<T> (pid: number, scenario: () => Promise<T>, everyMs = 20): Promise<{ rss: RssSample, result: T }> {
  try { writeFileSync(`/proc/${pid}/clear_refs`, '5') } catch {}
  const baseline = status(pid, 'VmRSS')
  let peak = baseline
  const timer = setInterval(() => { try { peak = Math.max(peak, status(pid, 'VmRSS')) } catch {} }, everyMs)
  try {
    const result = await scenario()
    peak = Math.max(peak, status(pid, 'VmRSS'))
    return { rss: { baseline, peak, hwm: status(pid, 'VmHWM') }, result }
  } finally {
    clearInterval(timer)
  }
}

export const mib = (x: number): string => `${x.toFixed(0)} MiB`
