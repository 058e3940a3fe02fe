/**
 * The journal's worker thread: hashing, signing and SQLite off the gateway's event loop. Batches
 * arrive in order from the gateway's thread (writer.ts); whatever arrived by the time this thread is
 * free is written in one transaction (group commit: the busier the gateway, the bigger the batch).
 * After each commit the settled count goes to shared memory (a held gateway thread wakes on it), and
 * to the gateway's thread as a message when someone waits for it (flush).
 *
 * A failing database keeps its batches and is retried every second and at every new batch; the
 * gateway's thread bounds how much it hands over meanwhile (journal.queue), so nothing here grows
 * without limit.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { FAILING, sharedState, signal, type Batch, type FromWorker, type ToWorker, type WorkerData } from './batch.js'
import { JournalStore, type StoreLog } from './store.js'

const data = workerData as WorkerData
const port = parentPort!
const shared = sharedState(data.shared)
const send = (m: FromWorker): void => port.postMessage(m)
const log: StoreLog = {
  info: (o, msg) => send({ t: 'log', level: 'info', o, msg }),
  warn: (o, msg) => send({ t: 'log', level: 'warn', o, msg }),
  error: (o, msg) => send({ t: 'log', level: 'error', o, msg })
}

// a worker that dies is a journal that cannot write: say so where a held gateway thread looks
process.on('uncaughtException', (e) => {
  Atomics.store(shared.flags, FAILING, 1)
  signal(shared)
  throw e
})

const store = new JournalStore({ path: data.path, signingKey: data.signingKey, keyId: data.keyId, log, retention: data.retention })
const NO_BODIES = Buffer.alloc(0)
let pending: Batch[] = []
let pendingItems = 0
/** when the last pending batch was handed over */
let pendingAt = 0
let settled = 0
let replyWanted = false
let failing = false
let lastLoud = 0
let scheduled = false
let closed = false
let retry: NodeJS.Timeout | undefined

function write (): void {
  scheduled = false
  if (closed) return
  if (pending.length > 0) {
    try {
      store.write(pending, pendingAt)
    } catch (e) {
      fail(e as Error)
      return
    }
  }
  settled += pendingItems
  // the committed batches' arenas go back to the gateway's thread: written into again, not allocated
  // (and first touched) anew for every batch
  const spare: ArrayBuffer[] = []
  for (const b of pending) if (b.bodies.length > 0) spare.push(b.bodies.buffer as ArrayBuffer)
  // (a courtesy: the journal goes on without it)
  try { if (spare.length > 0) port.postMessage({ t: 'spare', buffers: spare } satisfies FromWorker, spare) } catch {}
  pending = []
  pendingItems = 0
  if (failing) {
    failing = false
    Atomics.store(shared.flags, FAILING, 0)
    clearTimeout(retry)
    log.warn({ path: data.path }, 'journal writes again')
  }
  Atomics.store(shared.settled, 0, BigInt(settled))
  signal(shared)
  if (replyWanted) {
    replyWanted = false
    send({ t: 'settled', settled })
  }
}

function fail (err: Error): void {
  failing = true
  Atomics.store(shared.flags, FAILING, 1)
  signal(shared)
  const now = Date.now()
  if (now - lastLoud > 5000) {
    lastLoud = now
    log.error({ err: err.message, path: data.path, queued: pendingItems }, 'JOURNAL WRITE FAILED: new requests are refused until it writes again')
  }
  send({ t: 'failed', message: err.message })
  clearTimeout(retry)
  retry = setTimeout(write, 1000)
}

function answer (id: number, fn: () => number): void {
  try {
    send({ t: 'reply', id, value: fn() })
  } catch (e) {
    send({ t: 'reply', id, error: (e as Error).message })
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'batch':
      // the arena is this thread's now: it stays readable for as long as the batch may be written again
      pending.push({ items: m.b, bodies: m.bodies === null ? NO_BODIES : Buffer.from(m.bodies) })
      pendingItems += m.n
      pendingAt = m.at
      if (m.flush) replyWanted = true
      // everything that arrived in this turn goes into one transaction
      if (!scheduled) { scheduled = true; setImmediate(write) }
      break
    case 'prune': answer(m.id, () => store.prune(m.now)); break
    case 'size': answer(m.id, () => store.size()); break
    case 'close': {
      write()
      closed = true
      clearTimeout(retry)
      clearInterval(pruneTimer)
      try {
        // a batch that could not be written keeps the journal marked running: the next start says so
        store.endAll(m.at, 'gateway stopped', !failing)
      } catch (e) {
        log.error({ err: (e as Error).message, path: data.path }, 'JOURNAL: could not end the open sessions at stop; the next start closes them with a loss event')
      }
      store.close()
      send({ t: 'closed' })
      port.close()
      break
    }
  }
})

function prune (): void {
  try {
    store.prune()
  } catch (e) {
    log.error({ err: (e as Error).message, path: data.path }, 'JOURNAL RETENTION FAILED: nothing was pruned; it runs again at the next interval')
  }
}
prune()
const pruneTimer = data.retention !== undefined ? setInterval(prune, data.pruneEvery) : undefined
