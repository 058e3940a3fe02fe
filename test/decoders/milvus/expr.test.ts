import t from 'tap'
import { parseIdList } from '../../../decoders/milvus/expr.js'

t.test('plain id lists', async t => {
  t.same(parseIdList('id in [1,2,3]'), { field: 'id', ids: [1, 2, 3] })
  t.same(parseIdList('  pk IN [ -4 , 5, ]  '), { field: 'pk', ids: [-4, 5] })
  t.same(parseIdList('id in[7]'), { field: 'id', ids: [7] })
  t.same(parseIdList('name in ["a","b\\"c", \'d\']'), { field: 'name', ids: ['a', 'b"c', 'd'] })
  t.same(parseIdList('id == 9'), { field: 'id', ids: [9] })
  t.same(parseIdList('id=="x"'), { field: 'id', ids: ['x'] })
  t.same(parseIdList('id in []'), { field: 'id', ids: [] })
  t.same(parseIdList('id in [9223372036854775807]'), { field: 'id', ids: ['9223372036854775807'] }, 'int64 beyond doubles stays exact')
})

t.test('anything else is a filter', async t => {
  for (const e of [
    '', 'id > 0', 'id >= 0', 'id != 1', 'id not in [1]', 'not id in [1]', 'id in [1] or id > 0', 'id in [1] and x == 2',
    '(id in [1])', 'id in {ids}', 'id == {x}', 'meta["a"] == 1', 'id in [1.5]', 'id in [1e3]', 'id in [0x10]',
    'id in [1', 'id in [1,,2]', 'id == 1 == 1', 'id like "a%"', 'id in ["a\\nb"]', 'id in ["open', 'json_contains(m, 1)',
    'id in [1] # comment', '1 == id'
  ]) t.equal(parseIdList(e), undefined, e)
})
