/**
 * SCRAM-SHA-256 authentication, server side (RFC 5802 and RFC 7677, as PostgreSQL's
 * src/backend/libpq/auth-scram.c speaks it): the page service's password authentication when
 * passwords are configured, so that standard clients (libpq, psql, drivers) log in without the
 * password crossing the wire. No channel binding (the page service has no TLS): a client that
 * asks for SCRAM-SHA-256-PLUS is refused.
 *
 * Exchange, inside SASLInitialResponse / SASLResponse and AuthenticationSASLContinue / Final:
 * ```
 *  client-first   n,,n=<ignored>,r=<client nonce>
 *  server-first   r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
 *  client-final   c=biws,r=<nonce>,p=<base64 ClientKey XOR HMAC(StoredKey, AuthMessage)>
 *  server-final   v=<base64 HMAC(ServerKey, AuthMessage)>
 * ```
 * The user name comes from the startup packet, as in PostgreSQL (the SCRAM one is ignored).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { ServiceError } from './errors.js';

/** PostgreSQL's default (scram_iterations, SCRAM_SHA_256_DEFAULT_ITERATIONS). */
export const SCRAM_ITERATIONS = 4096;
const NONCE_BYTES = 18;

export interface ScramSecret {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

const hmac = (key: Buffer, text: string | Buffer) => createHmac('sha256', key).update(text).digest();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

/** scram_build_secret: the verifier kept instead of the password. */
export function scramSecret(password: string, salt: Buffer = randomBytes(16), iterations = SCRAM_ITERATIONS): ScramSecret {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  return { salt, iterations, storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') };
}

function bad(message: string): ServiceError {
  return new ServiceError('UNAUTHORIZED', message);
}

/** Attributes `a=value,b=value` of one SCRAM message. */
function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw bad(`Cannot read SCRAM message ${JSON.stringify(text.slice(0, 80))}: attribute ${JSON.stringify(part.slice(0, 20))} is not of the form a=value`);
    out.set(part[0] as string, part.slice(2));
  }
  return out;
}

/**
 * One SCRAM exchange. `secret` undefined: the user does not exist; the exchange runs on a made-up
 * salt and fails at the end, so that a client cannot tell unknown users from bad passwords (as
 * PostgreSQL's mock authentication does).
 */
export class ScramExchange {
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  private readonly secret: ScramSecret;
  private readonly real: boolean;

  constructor(secret: ScramSecret | undefined, mockSeed: string) {
    this.real = secret !== undefined;
    this.secret = secret ?? { salt: sha256(Buffer.from(`strata-mock-${mockSeed}`)).subarray(0, 16), iterations: SCRAM_ITERATIONS, storedKey: randomBytes(32), serverKey: randomBytes(32) };
  }

  /** read_client_first_message; returns the server-first-message. */
  clientFirst(mechanism: string, data: Buffer): string {
    if (mechanism !== 'SCRAM-SHA-256') throw bad(`Cannot authenticate with SASL mechanism ${JSON.stringify(mechanism)}: the page service offers SCRAM-SHA-256 only`);
    const text = data.toString('utf8');
    // gs2-header: "n,," (no channel binding) or "y,," (client could but thinks the server cannot).
    const m = /^([ny]),(?:a=[^,]*)?,(.*)$/.exec(text);
    if (m === null) throw bad(`Cannot read the SCRAM client-first-message: it must start with "n,," or "y,," (no channel binding), received ${JSON.stringify(text.slice(0, 40))}`);
    this.clientFirstBare = m[2] as string;
    const attrs = attributes(this.clientFirstBare);
    const clientNonce = attrs.get('r');
    if (clientNonce === undefined || clientNonce.length === 0) throw bad('Cannot read the SCRAM client-first-message: it has no nonce (r=)');
    this.nonce = clientNonce + randomBytes(NONCE_BYTES).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${this.secret.salt.toString('base64')},i=${this.secret.iterations}`;
    return this.serverFirst;
  }

  /** read_client_final_message and verify_client_proof; returns the server-final-message. */
  clientFinal(data: Buffer): string {
    const text = data.toString('utf8');
    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) throw bad('Cannot read the SCRAM client-final-message: it has no proof (p=)');
    const withoutProof = text.slice(0, proofAt);
    const attrs = attributes(withoutProof);
    const binding = attrs.get('c');
    if (binding !== 'biws' && binding !== 'eSws') throw bad(`Cannot accept SCRAM channel binding ${JSON.stringify(binding)}: the page service has no TLS, so none is possible`);
    if (attrs.get('r') !== this.nonce) throw bad('Cannot accept the SCRAM client-final-message: its nonce is not the one this exchange made');
    const proof = Buffer.from(text.slice(proofAt + 3), 'base64');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.secret.storedKey, authMessage);
    if (proof.length !== clientSignature.length) throw bad('password authentication failed');
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = (proof[i] as number) ^ (clientSignature[i] as number);
    if (!timingSafeEqual(sha256(clientKey), this.secret.storedKey) || !this.real) throw bad('password authentication failed');
    return `v=${hmac(this.secret.serverKey, authMessage).toString('base64')}`;
  }
}

/** The client side, for tests: the messages a libpq client sends for `password`. */
export class ScramClient {
  private readonly clientNonce = randomBytes(NONCE_BYTES).toString('base64');
  private clientFirstBare = '';
  private serverSignature = Buffer.alloc(0);

  constructor(private readonly password: string) {}

  first(): Buffer {
    this.clientFirstBare = `n=,r=${this.clientNonce}`;
    return Buffer.from(`n,,${this.clientFirstBare}`);
  }

  final(serverFirst: string): Buffer {
    const attrs = attributes(serverFirst);
    const nonce = attrs.get('r') ?? '';
    if (!nonce.startsWith(this.clientNonce)) throw new Error('server nonce does not extend the client nonce');
    const salted = pbkdf2Sync(Buffer.from(this.password, 'utf8'), Buffer.from(attrs.get('s') ?? '', 'base64'), Number(attrs.get('i')), 32, 'sha256');
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientKey = hmac(salted, 'Client Key');
    const signature = hmac(sha256(clientKey), authMessage);
    const proof = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) proof[i] = (clientKey[i] as number) ^ (signature[i] as number);
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`);
  }

  verifyServer(serverFinal: string): boolean {
    return serverFinal === `v=${this.serverSignature.toString('base64')}`;
  }
}
