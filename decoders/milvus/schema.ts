import { createRequire } from 'node:module'
import protobuf from 'protobufjs'

/**
 * Milvus's gRPC schema, loaded at run time from the protobufjs JSON descriptors that
 * `@zilliz/milvus2-sdk-node` ships (dist/milvus/proto-json/milvus.js: packages milvus.proto.{milvus,
 * common,schema,rg,feder,msg}). That file keeps the .proto field names (snake_case), which is what
 * the wire names and our tables use; milvus.base.js is the camelCase variant. Nothing of the schema is
 * copied into this repository, so the SDK version pins the protocol (3.0.x: Milvus 3.0).
 */
export interface MilvusSchema {
  root: protobuf.Root
}

const DESCRIPTORS = '@zilliz/milvus2-sdk-node/dist/milvus/proto-json/milvus.js'

let cached: MilvusSchema | undefined

export function milvusSchema (): MilvusSchema {
  if (cached !== undefined) return cached
  const require = createRequire(import.meta.url)
  let json: protobuf.INamespace
  try {
    const mod = require(DESCRIPTORS) as { default?: protobuf.INamespace }
    if (mod.default === undefined) throw new Error(`${DESCRIPTORS} exports no default descriptor object`)
    json = mod.default
  } catch (e) {
    throw new Error('the Milvus descriptors come from the @zilliz/milvus2-sdk-node package: run `npm install`', { cause: e })
  }
  const root = protobuf.Root.fromJSON(json)
  root.resolveAll()
  cached = { root }
  return cached
}
