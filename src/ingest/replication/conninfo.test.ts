/**
 * Connection strings as libpq reads them (conninfo_parse, conninfo_uri_parse): both forms, quoting
 * and escapes, defaults, and the refusals for what strata's client cannot do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplicationError } from './errors.js';
import { looksLikeConnInfo, parseConnInfo, redact } from './conninfo.js';

test('key/value connection strings: quoting, escapes, defaults, ignored keywords', () => {
  assert.deepEqual(parseConnInfo('host=127.0.0.1 port=5433 user=rep'), { host: '127.0.0.1', port: 5433, user: 'rep' });
  assert.deepEqual(parseConnInfo("  host = db1   password='a b\\'c'  dbname=postgres application_name=x connect_timeout=1 "), {
    host: 'db1',
    port: 5432,
    user: 'postgres',
    password: "a b'c",
    applicationName: 'x',
    connectTimeoutMs: 2000,
  });
  assert.deepEqual(parseConnInfo(''), { host: 'localhost', port: 5432, user: 'postgres' });
  assert.equal(parseConnInfo('hostaddr=10.0.0.2 host=db1').host, '10.0.0.2', 'hostaddr wins, as in libpq');
  assert.equal(parseConnInfo('password=a\\ b').password, 'a b');
});

test('URI connection strings: user, password, IPv6, port, query parameters, %-escapes', () => {
  assert.deepEqual(parseConnInfo('postgresql://rep:s%40cret@db1:6000/postgres?application_name=imp'), { host: 'db1', port: 6000, user: 'rep', password: 's@cret', applicationName: 'imp' });
  assert.deepEqual(parseConnInfo('postgres://[::1]:5444'), { host: '::1', port: 5444, user: 'postgres' });
  assert.deepEqual(parseConnInfo('postgresql://'), { host: 'localhost', port: 5432, user: 'postgres' });
  assert.equal(parseConnInfo('postgresql://h/?user=u&port=7000').port, 7000);
});

test('refused: bad syntax, unknown keywords, ports, Unix sockets, several hosts, TLS; messages hide the password', () => {
  const cases: [string, RegExp][] = [
    ['host', /missing "=" after "host"/],
    ["password='open", /unterminated quoted value/],
    ['hots=db1', /unknown keyword "hots"/],
    ['port=99999', /port must be a number from 1 to 65535, received "99999"/],
    ['port=abc', /port must be a number/],
    ['host=/var/run/postgresql', /Unix-domain socket; strata connects over TCP/],
    ['postgresql://a,b/x', /several hosts/],
    ['host=db sslmode=require', /sslmode=require needs TLS/],
    ['postgresql://u:p@h/%zz', /malformed %-escape/],
    ['host=db password=hunter2 bogus=1', /unknown keyword "bogus"/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseConnInfo(text), (e: unknown) => {
      assert.ok(e instanceof ReplicationError && e.code === 'INVALID_ARGUMENT', String(e));
      assert.match(e.message, re);
      assert.doesNotMatch(e.message, /hunter2/);
      return true;
    });
  }
  assert.equal(redact("host=x password='a b' user=u"), 'host=x password=*** user=u');
  assert.equal(redact('postgresql://u:secret@h:1/db'), 'postgresql://u:***@h:1/db');
});

test('a connection string or a folder', () => {
  for (const s of ['host=db1', 'postgresql://x', 'POSTGRES://x', ' port=1']) assert.ok(looksLikeConnInfo(s), s);
  for (const s of ['/var/lib/postgresql/15/main', './data', 'data', 'C:\\pg']) assert.ok(!looksLikeConnInfo(s), s);
});
