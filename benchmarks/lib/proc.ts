/**
 * CPU time and resident memory of a process from /proc (Linux, proc(5)): what the thing under test
 * spends per request is its user+sys CPU over a run divided by the requests answered in it.
 */
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

let ticksPerSecond: number | undefined
function clockTicks (): number {
  if (ticksPerSecond === undefined) {
    try { ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { ticksPerSecond = 100 }
  }
  return ticksPerSecond
}

/** user + system CPU seconds the process has used so far, all threads (/proc/PID/stat fields 14 and 15) */
export function cpuSeconds (pid: number): number {
  return statCpu(`/proc/${pid}/stat`)
}

/** the same for its main thread only (the event loop: the relay itself, without worker threads) */
export function mainThreadCpuSeconds (pid: number): number {
  return statCpu(`/proc/${pid}/task/${pid}/stat`)
}

function statCpu (file: string): number {
  const stat = readFileSync(file, 'utf8')
  // the command name (field 2) may hold spaces and parentheses: count fields after its closing ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / clockTicks()
}

/** resident set size in MiB (/proc/PID/status VmRSS) */
export function rssMiB (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) / 1024
}

/** highest RSS so far in MiB (VmHWM) */
export function peakRssMiB (pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) / 1024
}
