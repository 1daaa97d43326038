/**
 * Connection strings for a primary strata imports from and follows (`strata timeline import <name>
 * <conninfo>`, the HTTP API's `import_primary`): libpq's two forms, read into the replication
 * client's ConnectOptions.
 *
 *   key/value:  host=db1 port=5432 user=replicator password='a b\'c' application_name=strata
 *   URI:        postgresql://replicator:secret@db1:5432/postgres?application_name=strata
 *
 * Mirrors libpq's conninfo_parse (values may be single-quoted, with backslash escapes) and
 * conninfo_uri_parse (percent-decoding, [v6] hosts, query parameters as keywords). What strata's
 * client cannot do is refused by name rather than ignored: Unix-domain sockets (a host that is a
 * folder), several hosts, and TLS (sslmode require and above). Keywords that mean nothing to a
 * physical replication connection (dbname, options, ...) are accepted and ignored, as the walsender
 * ignores the database of a physical connection. Defaults: host localhost, port 5432, user postgres
 * (libpq would take the OS user of the process; the page server's OS user says nothing about roles
 * on the primary).
 */
import type { ConnectOptions } from './connection.js';
import { ReplicationError } from './errors.js';

const DEFAULT_PORT = 5432;
const DEFAULT_HOST = 'localhost';
const DEFAULT_USER = 'postgres';
const CONNINFO_BYTES_MAX = 8192;

/** Keywords libpq knows that a physical replication connection has no use for. */
const IGNORED = new Set(['dbname', 'options', 'client_encoding', 'fallback_application_name', 'keepalives', 'keepalives_idle', 'keepalives_interval', 'keepalives_count', 'tcp_user_timeout', 'target_session_attrs', 'gssencmode', 'replication', 'passfile', 'channel_binding', 'krbsrvname', 'requirepeer', 'service']);
const USED = ['host', 'hostaddr', 'port', 'user', 'password', 'application_name', 'connect_timeout', 'sslmode'];

/** A connection string's parts: the replication connection's options (connection.ts). */
export type ConnInfo = ConnectOptions;

function bad(text: string, why: string): ReplicationError {
  return new ReplicationError('INVALID_ARGUMENT', `Cannot read the connection string ${JSON.stringify(redact(text).slice(0, 200))}: ${why}`);
}

/** The string with any password replaced by "***" (for messages and job states). */
export function redact(text: string): string {
  return text.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, '$1***').replace(/^(postgres(?:ql)?:\/\/[^:@/?]*):[^@/?]*@/i, '$1:***@');
}

/** Whether `text` reads as a connection string (a URI, or starts with `keyword=`), not a path. */
export function looksLikeConnInfo(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text) || /^\s*[a-z_]+\s*=/i.test(text);
}

/** Reads a key/value or URI connection string (see the module header). */
export function parseConnInfo(text: string): ConnInfo {
  if (Buffer.byteLength(text) > CONNINFO_BYTES_MAX) throw bad(text, `it is longer than ${CONNINFO_BYTES_MAX} bytes`);
  const pairs = /^postgres(ql)?:\/\//i.test(text) ? uriPairs(text) : keyValuePairs(text);
  return fromPairs(text, pairs);
}

/** libpq conninfo_parse: `key = value` pairs separated by white space; a value may be 'quoted'. */
function keyValuePairs(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  const n = text.length;
  const space = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
  while (i < n) {
    while (i < n && space(text[i])) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && text[i] !== '=' && !space(text[i])) i++;
    const key = text.slice(keyStart, i);
    while (i < n && space(text[i])) i++;
    if (text[i] !== '=') throw bad(text, `missing "=" after "${key}"`);
    i++;
    while (i < n && space(text[i])) i++;
    let value = '';
    if (text[i] === "'") {
      i++;
      for (;;) {
        if (i >= n) throw bad(text, `unterminated quoted value of "${key}"`);
        const c = text[i] as string;
        if (c === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else if (c === "'") {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
    } else {
      while (i < n && !space(text[i])) {
        if (text[i] === '\\' && i + 1 < n) i++;
        value += text[i];
        i++;
      }
    }
    if (key === '') throw bad(text, 'a "=" with no keyword before it');
    out.set(key, value);
  }
  return out;
}

/** libpq conninfo_uri_parse: postgresql://[user[:password]@][host][:port][/dbname][?param=value&...]. */
function uriPairs(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const decode = (s: string, what: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw bad(text, `the ${what} holds a malformed %-escape`);
    }
  };
  let rest = text.replace(/^postgres(ql)?:\/\//i, '');
  const q = rest.indexOf('?');
  const query = q >= 0 ? rest.slice(q + 1) : '';
  if (q >= 0) rest = rest.slice(0, q);
  const slash = rest.indexOf('/');
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  if (slash >= 0 && rest.slice(slash + 1) !== '') out.set('dbname', decode(rest.slice(slash + 1), 'database name'));
  const at = authority.lastIndexOf('@');
  let hostPort = authority;
  if (at >= 0) {
    const userInfo = authority.slice(0, at);
    hostPort = authority.slice(at + 1);
    const colon = userInfo.indexOf(':');
    out.set('user', decode(colon >= 0 ? userInfo.slice(0, colon) : userInfo, 'user name'));
    if (colon >= 0) out.set('password', decode(userInfo.slice(colon + 1), 'password'));
  }
  if (hostPort.includes(',')) throw bad(text, 'it names several hosts; strata follows one primary');
  let host = hostPort;
  let port: string | undefined;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) throw bad(text, 'an IPv6 host opens "[" without "]"');
    host = hostPort.slice(1, close);
    const after = hostPort.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw bad(text, `unexpected "${after}" after the IPv6 host`);
    if (after !== '') port = after.slice(1);
  } else {
    const colon = hostPort.lastIndexOf(':');
    if (colon >= 0) {
      host = hostPort.slice(0, colon);
      port = hostPort.slice(colon + 1);
    }
  }
  if (host !== '') out.set('host', decode(host, 'host'));
  if (port !== undefined && port !== '') out.set('port', port);
  for (const part of query === '' ? [] : query.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw bad(text, `the query parameter "${part}" is not keyword=value`);
    out.set(decode(part.slice(0, eq), 'query'), decode(part.slice(eq + 1), 'query'));
  }
  return out;
}

function fromPairs(text: string, pairs: Map<string, string>): ConnInfo {
  for (const k of pairs.keys()) if (!USED.includes(k) && !IGNORED.has(k)) throw bad(text, `unknown keyword "${k}" (strata uses ${USED.join(', ')})`);
  const host = pairs.get('hostaddr') ?? pairs.get('host') ?? DEFAULT_HOST;
  if (host.startsWith('/') || host.startsWith('@')) throw bad(text, `host "${host}" is a Unix-domain socket; strata connects over TCP: give host=127.0.0.1 (or the primary's address)`);
  if (host.includes(',')) throw bad(text, 'it names several hosts; strata follows one primary');
  const portText = pairs.get('port') ?? String(DEFAULT_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw bad(text, `port must be a number from 1 to 65535, received "${portText}"`);
  const sslmode = pairs.get('sslmode');
  if (sslmode !== undefined && !['disable', 'allow', 'prefer'].includes(sslmode)) throw bad(text, `sslmode=${sslmode} needs TLS, which strata's replication client does not speak; use sslmode=disable on a trusted network`);
  const timeout = pairs.get('connect_timeout');
  let connectTimeoutMs: number | undefined;
  if (timeout !== undefined) {
    if (!/^\d+$/.test(timeout)) throw bad(text, `connect_timeout must be a whole number of seconds, received "${timeout}"`);
    // libpq: 0 means wait forever, and values below 2 s are taken as 2 s.
    connectTimeoutMs = Number(timeout) === 0 ? undefined : Math.max(2, Number(timeout)) * 1000;
  }
  const password = pairs.get('password');
  const applicationName = pairs.get('application_name');
  return {
    host,
    port,
    user: pairs.get('user') || DEFAULT_USER,
    ...(password !== undefined && password !== '' ? { password } : {}),
    ...(applicationName !== undefined ? { applicationName } : {}),
    ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
  };
}

/** The ConnectOptions of a parsed connection string, with strata's application name unless it names one. */
export function connectOptionsOf(c: ConnInfo): ConnectOptions {
  return { ...c, applicationName: c.applicationName ?? 'strata' };
}
