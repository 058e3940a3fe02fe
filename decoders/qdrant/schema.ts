import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import protobuf from 'protobufjs'
import descriptor from 'protobufjs/ext/descriptor/index.js'

/**
 * Qdrant's gRPC schema, loaded at run time from the descriptors `@qdrant/js-client-grpc` embeds in its
 * generated code (each `*_pb.js` carries a base64 FileDescriptorProto in `fileDesc("...")`). Nothing of
 * the schema is copied into this repository. We start from qdrant_pb.js and follow its imports, which
 * keeps out `common.proto` (it would clash with qdrant_common.proto on 'PointId').
 */
export interface QdrantSchema {
  root: protobuf.Root
  /** serialized google.protobuf.FileDescriptorSet, for grpc-js `loadFileDescriptorSetFromBuffer` */
  descriptorSet: Buffer
}

let cached: QdrantSchema | undefined

/**
 * The one well-known type the Qdrant files import (from @bufbuild/protobuf/wkt rather than an embedded
 * descriptor): google/protobuf/timestamp.proto, message Timestamp { int64 seconds = 1; int32 nanos = 2; }.
 */
const TIMESTAMP_PROTO = descriptor.FileDescriptorProto.create({
  name: 'google/protobuf/timestamp.proto',
  package: 'google.protobuf',
  syntax: 'proto3',
  messageType: [{
    name: 'Timestamp',
    field: [
      { name: 'seconds', number: 1, label: 1, type: 3, jsonName: 'seconds' },
      { name: 'nanos', number: 2, label: 1, type: 5, jsonName: 'nanos' }
    ]
  }]
})

export function qdrantSchema (): QdrantSchema {
  if (cached !== undefined) return cached
  const require = createRequire(import.meta.url)
  let protoDir: string
  try {
    // the package exports no ./package.json; its entry point lives in dist/<format>/
    let dir = dirname(require.resolve('@qdrant/js-client-grpc'))
    while (!dir.endsWith('dist')) dir = dirname(dir)
    protoDir = join(dir, 'esm', 'proto')
  } catch (e) {
    throw new Error('the Qdrant descriptors come from the @qdrant/js-client-grpc package: run `npm install`', { cause: e })
  }
  const files: Uint8Array[] = []
  const seen = new Set<string>()
  const visit = (name: string): void => {
    if (seen.has(name)) return
    seen.add(name)
    const text = readFileSync(join(protoDir, `${name}_pb.js`), 'utf8')
    for (const m of text.matchAll(/import \{ file_\w+ \} from "\.\/(\w+)_pb\.js";/g)) visit(m[1])
    const b64 = /fileDesc\("([^"]+)"/.exec(text)?.[1]
    if (b64 === undefined) throw new Error(`no embedded descriptor in ${name}_pb.js`)
    files.push(Buffer.from(b64, 'base64')) // dependencies first, as protoc orders a set
  }
  visit('qdrant')
  const set = descriptor.FileDescriptorSet.create({
    file: [TIMESTAMP_PROTO, ...files.map(f => descriptor.FileDescriptorProto.decode(f))]
  })
  const descriptorSet = Buffer.from(descriptor.FileDescriptorSet.encode(set).finish())
  const root = (protobuf.Root as unknown as { fromDescriptor: (d: unknown) => protobuf.Root }).fromDescriptor(set)
  restoreMaps(root)
  root.resolveAll()
  cached = { root, descriptorSet }
  return cached
}

/**
 * protobufjs' fromDescriptor leaves `map<K, V>` fields as repeated `…Entry` messages (which is what
 * they are on the wire). Turn them back into map fields so payloads decode to plain objects.
 */
function restoreMaps (ns: protobuf.NamespaceBase): void {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) {
      for (const field of [...nested.fieldsArray]) {
        if (!field.repeated || field.partOf !== null) continue
        const entry = nested.nested?.[field.type.split('.').pop() as string]
        if (!(entry instanceof protobuf.Type) || entry.getOption('map_entry') !== true) continue
        const key = entry.fields.key
        const value = entry.fields.value
        nested.remove(field)
        nested.add(new protobuf.MapField(field.name, field.id, key.type, value.type, field.options))
      }
    }
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) restoreMaps(nested as protobuf.NamespaceBase)
  }
}
