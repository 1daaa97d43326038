/**
 * Password authentication for the replication connection: md5 and SCRAM-SHA-256.
 *
 * The primary decides the method in pg_hba.conf; connection.ts answers whatever it asks. SCRAM
 * follows RFC 5802 / RFC 7677 the way libpq's fe-auth-scram.c does it: no channel binding (gs2
 * header "n,,"), an empty user name in the client-first message (the server takes the user from the
 * startup packet), a 18-byte random nonce in base64, and the password prepared with SASLprep when
 * that succeeds, as pg_saslprep does, else used as is.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { ReplicationError } from './errors.js';

/** SCRAM_RAW_NONCE_LEN in PostgreSQL's scram-common.h. */
const SCRAM_RAW_NONCE_BYTES = 18;
/** Refuse absurd iteration counts from a server (PostgreSQL's default is 4096). */
const SCRAM_ITERATIONS_MAX = 10_000_000;
export const SCRAM_SHA_256 = 'SCRAM-SHA-256';

/** The md5 response: "md5" + md5(md5(password + user) + salt), as libpq's pg_md5_encrypt pair. */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  if (salt.length !== 4) throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot answer md5 authentication: the salt must be 4 bytes, received ${salt.length}`);
  const inner = createHash('md5').update(password + user, 'utf8').digest('hex');
  return 'md5' + createHash('md5').update(Buffer.concat([Buffer.from(inner, 'latin1'), salt])).digest('hex');
}

function hmac(key: Buffer, text: string | Buffer): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Parses "a=1,b=2" SCRAM attributes; a repeated or unnamed attribute is a protocol violation. */
function parseAttributes(text: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const m = /^([A-Za-z])=(.*)$/s.exec(part);
    if (m === null || out.has(m[1]!)) throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot parse the SCRAM ${what}: malformed attribute "${part}" in "${text}"`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

/** The client side of one SCRAM-SHA-256 exchange. */
export class ScramClient {
  private readonly nonce: string;
  private readonly clientFirstBare: string;
  private serverSignature: Buffer | undefined;

  constructor(
    private readonly password: string,
    options: { readonly nonce?: string; readonly username?: string } = {},
  ) {
    this.nonce = options.nonce ?? randomBytes(SCRAM_RAW_NONCE_BYTES).toString('base64');
    this.clientFirstBare = `n=${options.username ?? ''},r=${this.nonce}`;
  }

  /** client-first-message: gs2 header without channel binding, then the bare part. */
  clientFirstMessage(): Buffer {
    return Buffer.from('n,,' + this.clientFirstBare, 'utf8');
  }

  /** Reads server-first-message (nonce, salt, iterations) and returns client-final-message. */
  clientFinalMessage(serverFirst: Buffer): Buffer {
    const serverFirstText = serverFirst.toString('utf8');
    const attrs = parseAttributes(serverFirstText, 'server-first message');
    const nonce = attrs.get('r');
    const saltB64 = attrs.get('s');
    const iterText = attrs.get('i');
    if (nonce === undefined || saltB64 === undefined || iterText === undefined)
      throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot parse the SCRAM server-first message: r, s and i are required, received "${serverFirstText}"`);
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length)
      throw new ReplicationError('AUTH_FAILED', 'Cannot authenticate with SCRAM: the server nonce does not extend the client nonce');
    const iterations = Number(iterText);
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > SCRAM_ITERATIONS_MAX)
      throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot authenticate with SCRAM: the iteration count must be in [1, ${SCRAM_ITERATIONS_MAX}], received "${iterText}"`);
    const salt = Buffer.from(saltB64, 'base64');
    if (salt.length === 0) throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot authenticate with SCRAM: the salt is empty ("${saltB64}")`);

    // Hi() of RFC 5802 is PBKDF2 with HMAC-SHA-256 and one block of output.
    const saltedPassword = pbkdf2Sync(Buffer.from(saslPrep(this.password), 'utf8'), salt, iterations, 32, 'sha256');
    const clientKey = hmac(saltedPassword, 'Client Key');
    const storedKey = sha256(clientKey);
    // "biws" is base64("n,,"): the gs2 header again, proving no channel binding was negotiated.
    const finalWithoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirstText},${finalWithoutProof}`;
    const clientSignature = hmac(storedKey, authMessage);
    const proof = xor(clientKey, clientSignature);
    this.serverSignature = hmac(hmac(saltedPassword, 'Server Key'), authMessage);
    return Buffer.from(`${finalWithoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  /** Checks server-final-message: the server proves it knows the password's verifier too. */
  verifyServerFinal(serverFinal: Buffer): void {
    const text = serverFinal.toString('utf8');
    const attrs = parseAttributes(text, 'server-final message');
    const err = attrs.get('e');
    if (err !== undefined) throw new ReplicationError('AUTH_FAILED', `Cannot authenticate with SCRAM: the server reported "${err}"`);
    const v = attrs.get('v');
    if (v === undefined || this.serverSignature === undefined)
      throw new ReplicationError('PROTOCOL_VIOLATION', `Cannot parse the SCRAM server-final message: no verifier, received "${text}"`);
    const got = Buffer.from(v, 'base64');
    if (got.length !== this.serverSignature.length || !timingSafeEqual(got, this.serverSignature))
      throw new ReplicationError('AUTH_FAILED', 'Cannot authenticate with SCRAM: the server signature is wrong (the server does not know this password)');
  }
}

// ---- SASLprep (RFC 4013), as pg_saslprep applies it to passwords. ----

/** C.1.2: non-ASCII spaces, mapped to U+0020. */
const NON_ASCII_SPACES = new Set([0x00a0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x200b, 0x202f, 0x205f, 0x3000]);

/** B.1: characters commonly mapped to nothing. */
function mapsToNothing(c: number): boolean {
  return c === 0x00ad || c === 0x034f || c === 0x1806 || (c >= 0x180b && c <= 0x180d) || (c >= 0x200b && c <= 0x200d) || c === 0x2060 || (c >= 0xfe00 && c <= 0xfe0f) || c === 0xfeff;
}

/** C.2-C.9: controls, private use, non-characters, surrogates, and the other prohibited ranges. */
function prohibited(c: number): boolean {
  if (c < 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f)) return true;
  if (c === 0x06dd || c === 0x070f || c === 0x180e || c === 0x200c || c === 0x200d || c === 0x2028 || c === 0x2029) return true;
  if ((c >= 0x2060 && c <= 0x2063) || (c >= 0x206a && c <= 0x206f) || c === 0xfeff || (c >= 0xfff9 && c <= 0xfffd)) return true;
  if (c >= 0x1d173 && c <= 0x1d17a) return true;
  if ((c >= 0xe000 && c <= 0xf8ff) || (c >= 0xf0000 && c <= 0xffffd) || (c >= 0x100000 && c <= 0x10fffd)) return true;
  if ((c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) === 0xfffe) return true;
  if (c >= 0xd800 && c <= 0xdfff) return true;
  if (c >= 0x2ff0 && c <= 0x2ffb) return true;
  if (c === 0x0340 || c === 0x0341 || c === 0x200e || c === 0x200f || (c >= 0x202a && c <= 0x202e)) return true;
  if (c === 0xe0001 || (c >= 0xe0020 && c <= 0xe007f)) return true;
  return false;
}

/**
 * pg_saslprep: ASCII passwords pass unchanged; others are mapped, NFKC-normalised and checked. As
 * in PostgreSQL, a password SASLprep refuses is used as it is (the server did the same when it
 * stored the verifier). The unassigned-code-point and bidi checks are not made: a password that
 * PostgreSQL would reject only on those grounds is prepared here instead of used raw.
 */
export function saslPrep(password: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  let mapped = '';
  for (const ch of password) {
    const c = ch.codePointAt(0)!;
    if (NON_ASCII_SPACES.has(c)) mapped += ' ';
    else if (!mapsToNothing(c)) mapped += ch;
  }
  const normalized = mapped.normalize('NFKC');
  for (const ch of normalized) if (prohibited(ch.codePointAt(0)!)) return password;
  return normalized;
}
