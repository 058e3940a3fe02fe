/**
 * Text from the journal or the gateway that a client chose (a collection name, a statement, a reason,
 * an IdP subject) made safe for a person's terminal (THREATS.md "Terminal injection"): C0 and C1
 * control characters and DEL are shown as \u escapes, so no OSC/CSI sequence from data reaches the
 * terminal and no line break from data forges a line of output.
 */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g
const CONTROLS_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g

const escape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`

/** `s` with every control character escaped; `keepNewlines` for text whose line breaks are our own layout */
export function terminalSafe (s: string, keepNewlines = false): string {
  return s.replace(keepNewlines ? CONTROLS_BUT_NEWLINE : CONTROLS, escape)
}

/** `v` with every string in it (keys too) escaped, so the lines built from it hold only our own breaks. */
export function terminalSafeDeep<T> (v: T): T {
  if (typeof v === 'string') return terminalSafe(v) as T
  if (Array.isArray(v)) return v.map(terminalSafeDeep) as T
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [terminalSafe(k), terminalSafeDeep(x)])) as T
  }
  return v
}
