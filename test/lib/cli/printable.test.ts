/**
 * What `vecgate approvals list|show|approve|deny` print of text a client chose (a reason, a SQL
 * statement, a name) cannot drive the approver's terminal (THREATS.md "Terminal injection").
 */
import t from 'tap'
import { printable } from '../../../lib/cli/commands.js'

t.test('control characters are shown as escapes, the rest as it is', async t => {
  t.equal(printable('DELETE FROM docs WHERE grp = $1'), 'DELETE FROM docs WHERE grp = $1')
  t.equal(printable('ok\u001b]0;pwned\u0007\u001b[2J'), 'ok\\u001b]0;pwned\\u0007\\u001b[2J', 'OSC title and clear screen')
  t.equal(printable('a\u009b31mb'), 'a\\u009b31mb', 'C1 CSI')
  t.equal(printable('line\nbreak\r\u007f'), 'line\\u000abreak\\u000d\\u007f')
  t.equal(printable('héllo ✓'), 'héllo ✓', 'printable Unicode stays')
  t.equal(printable(42), '42')
  t.equal(printable('x'.repeat(400)).length, 300, 'clipped')
  t.match(printable('x'.repeat(400)), /…$/)
})
