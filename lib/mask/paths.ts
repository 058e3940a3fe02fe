/**
 * Configured field paths, compiled once into a deterministic trie so that matching a document key
 * is one Map lookup and allocates nothing. Paths are dot-separated keys (`email`, `customer.phone`);
 * `*` stands for any one key; arrays are transparent (`contacts.email` reaches the `email` of every
 * element of `contacts`). A path that ends at a node masks everything under it, so `customer`
 * covers `customer.phone`.
 *
 * Wildcards are resolved at compile time: the node for key k merges every configured path that can
 * continue with k (the literal branch and the `*` branch), so walking never backtracks — the subset
 * construction of an NFA into a DFA, over a tree (configs are small, so the blow-up is theoretical).
 */
export class PathNode {
  /** a configured path ends here: the value at this key is masked whole */
  terminal = false
  /** literal keys; null when there are none */
  next: Map<string, PathNode> | null = null
  /** any other key (a `*` in some path); null when no path continues with an arbitrary key */
  other: PathNode | null = null
  /** the keys of `next` as UTF-8 and their nodes, for walks over JSON text that compare keys as bytes */
  keyBytes: Buffer[] | null = null
  keyNodes: PathNode[] | null = null
}

interface RawNode { id: number, terminal: boolean, children: Map<string, RawNode>, star: RawNode | null }

/** bound on cached path lookups (column names, prefixes); past it the cache starts over */
const CACHE_MAX = 4096

export class PathSet {
  readonly root: PathNode | null
  private readonly prefixes = new Map<string, PathNode | null>()
  private readonly matched = new Map<string, boolean>()
  private readonly touched = new Map<string, boolean>()

  /** paths already split and validated */
  constructor (paths: ReadonlyArray<readonly string[]>) {
    let ids = 0
    const raw = (): RawNode => ({ id: ids++, terminal: false, children: new Map(), star: null })
    const top = raw()
    for (const segs of paths) {
      let n = top
      for (const seg of segs) {
        if (seg === '*') n = n.star ??= raw()
        else {
          let c = n.children.get(seg)
          if (c === undefined) n.children.set(seg, c = raw())
          n = c
        }
      }
      n.terminal = true
    }
    const memo = new Map<string, PathNode>()
    const build = (set: RawNode[]): PathNode | null => {
      if (set.length === 0) return null
      const key = [...new Set(set.map(r => r.id))].sort((a, b) => a - b).join(',')
      const seen = memo.get(key)
      if (seen !== undefined) return seen
      const node = new PathNode()
      memo.set(key, node)
      if (set.some(r => r.terminal)) { node.terminal = true; return node }
      const stars = set.flatMap(r => r.star !== null ? [r.star] : [])
      const keys = new Set(set.flatMap(r => [...r.children.keys()]))
      if (keys.size > 0) {
        node.next = new Map()
        for (const k of keys) {
          node.next.set(k, build([...set.flatMap(r => { const c = r.children.get(k); return c !== undefined ? [c] : [] }), ...stars])!)
        }
        node.keyBytes = [...node.next.keys()].map(k => Buffer.from(k))
        node.keyNodes = [...node.next.values()]
      }
      node.other = build(stars)
      return node
    }
    this.root = paths.length === 0 ? null : build([top])
  }

  /**
   * The node for key `k` under `node`. A key with dots in it (`"customer.phone": …` stored flat)
   * is followed segment by segment, so flattening a payload does not slip past a nested path.
   */
  child (node: PathNode, k: string): PathNode | null {
    if (node.next !== null) {
      const c = node.next.get(k)
      if (c !== undefined) return c
    }
    if (k.indexOf('.') >= 0) return this.walk(node, k)
    return node.other
  }

  /** the node a document at `prefix` starts from (a terminal node: the whole document is covered) */
  at (prefix: string): PathNode | null {
    if (prefix === '') return this.root
    let n = this.prefixes.get(prefix)
    if (n !== undefined) return n
    n = this.root === null ? null : this.walk(this.root, prefix)
    remember(this.prefixes, prefix, n)
    return n
  }

  /** true when `path` is a configured path or lies under one */
  matches (path: string): boolean {
    let m = this.matched.get(path)
    if (m !== undefined) return m
    const n = this.root === null ? null : this.walk(this.root, path)
    m = n !== null && n.terminal
    remember(this.matched, path, m)
    return m
  }

  /** true when a configured path is `path`, lies under it, or lies above it */
  touches (path: string): boolean {
    let m = this.touched.get(path)
    if (m !== undefined) return m
    m = this.root !== null && this.walk(this.root, path) !== null
    remember(this.touched, path, m)
    return m
  }

  /** follows a dotted path; stops early at a terminal node (everything below is covered) */
  private walk (from: PathNode, path: string): PathNode | null {
    let n: PathNode | null = from
    let a = 0
    for (;;) {
      if (n.terminal) return n
      const dot = path.indexOf('.', a)
      const seg = dot < 0 ? path.slice(a) : path.slice(a, dot)
      const c: PathNode | undefined = n.next?.get(seg)
      n = c !== undefined ? c : n.other
      if (n === null) return null
      if (dot < 0) return n
      a = dot + 1
    }
  }
}

function remember<V> (cache: Map<string, V>, k: string, v: V): void {
  if (cache.size >= CACHE_MAX) cache.clear()
  cache.set(k, v)
}

/** splits and checks one configured path; returns the problem, or the segments */
export function parsePath (path: string): string[] | string {
  if (path === '') return 'a dotted key path such as email or customer.phone, not an empty string'
  const segs = path.split('.')
  for (const seg of segs) {
    if (seg === '') return `a dotted key path without empty segments, not "${path}"`
    if (seg !== '*' && seg.includes('*')) return `"*" as a whole segment only (one key), not "${path}"`
  }
  return segs
}
