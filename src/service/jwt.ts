/**
 * JWT authentication for the page service and the HTTP API (Neon's libs/utils/src/auth.rs: a token
 * carries a scope and, for a tenant scope, the tenant it covers). Signed with HS256 (a shared
 * secret) or EdDSA (Ed25519 public keys), both through node:crypto, so no dependency is needed.
 *
 * Claims strata reads:
 * ```
 *  scope       "tenant" (that tenant's pages and APIs) | "admin" (everything)
 *  tenant_id   32 hex digits, required with scope "tenant"
 *  exp, nbf    optional, seconds since the epoch; checked with a small clock skew
 * ```
 * The page service takes the token as the password (AuthenticationCleartextPassword, as Neon's
 * page service does); the HTTP API takes it as `Authorization: Bearer <token>`.
 */
import { createHmac, createPublicKey, timingSafeEqual, verify as cryptoVerify, type KeyObject, sign as cryptoSign } from 'node:crypto';
import { ServiceError } from './errors.js';

export type JwtScope = 'tenant' | 'admin';

export interface JwtClaims {
  readonly scope: JwtScope;
  readonly tenantId: string | undefined;
}

export interface JwtKeys {
  /** HS256 secret. */
  readonly hs256Secret?: Buffer | undefined;
  /** Ed25519 public keys (PEM text or KeyObjects); a token verifies with any of them. */
  readonly ed25519PublicKeys?: readonly (KeyObject | string)[] | undefined;
}

const CLOCK_SKEW_S = 60;
const TOKEN_BYTES_MAX = 8192;
const TENANT_ID = /^[0-9a-f]{32}$/;

function unauthorized(message: string): ServiceError {
  return new ServiceError('UNAUTHORIZED', message);
}

function b64urlJson(part: string, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw unauthorized(`Cannot read the token's ${what}: it is not base64url JSON of an object (${(e as Error).message})`);
  }
}

export class JwtVerifier {
  private readonly edKeys: KeyObject[];
  private readonly secret: Buffer | undefined;

  constructor(keys: JwtKeys) {
    this.secret = keys.hs256Secret;
    this.edKeys = (keys.ed25519PublicKeys ?? []).map((k) => (typeof k === 'string' ? createPublicKey(k) : k));
    for (const k of this.edKeys) if (k.asymmetricKeyType !== 'ed25519') throw new ServiceError('BAD_REQUEST', `Cannot use a ${k.asymmetricKeyType} key for EdDSA tokens: an Ed25519 public key is needed`);
    if (this.secret === undefined && this.edKeys.length === 0) throw new ServiceError('BAD_REQUEST', 'Cannot verify tokens without a key: give an HS256 secret or an Ed25519 public key');
  }

  /** The token's claims, or UNAUTHORIZED saying why not. */
  verify(token: string, nowS: number = Date.now() / 1000): JwtClaims {
    if (token.length > TOKEN_BYTES_MAX) throw unauthorized(`Cannot accept a token of ${token.length} bytes: the limit is ${TOKEN_BYTES_MAX}`);
    const parts = token.split('.');
    if (parts.length !== 3) throw unauthorized(`Cannot read the token: a JWT has three dot-separated parts, received ${parts.length}`);
    const [h, p, s] = parts as [string, string, string];
    const header = b64urlJson(h, 'header');
    const signed = Buffer.from(`${h}.${p}`);
    const signature = Buffer.from(s, 'base64url');
    if (header['alg'] === 'HS256') {
      if (this.secret === undefined) throw unauthorized('Cannot accept an HS256 token: no HS256 secret is configured');
      const want = createHmac('sha256', this.secret).update(signed).digest();
      if (signature.length !== want.length || !timingSafeEqual(signature, want)) throw unauthorized('Cannot accept the token: its HS256 signature does not verify');
    } else if (header['alg'] === 'EdDSA') {
      if (this.edKeys.length === 0) throw unauthorized('Cannot accept an EdDSA token: no Ed25519 public key is configured');
      if (!this.edKeys.some((k) => cryptoVerify(null, signed, k, signature))) throw unauthorized('Cannot accept the token: its EdDSA signature does not verify with any configured key');
    } else {
      throw unauthorized(`Cannot accept a token signed with ${JSON.stringify(header['alg'])}: HS256 and EdDSA are accepted`);
    }
    const claims = b64urlJson(p, 'claims');
    const exp = claims['exp'];
    if (exp !== undefined && (typeof exp !== 'number' || nowS > exp + CLOCK_SKEW_S)) throw unauthorized(`Cannot accept the token: it expired at ${String(exp)}`);
    const nbf = claims['nbf'];
    if (nbf !== undefined && (typeof nbf !== 'number' || nowS + CLOCK_SKEW_S < nbf)) throw unauthorized(`Cannot accept the token: it is not valid before ${String(nbf)}`);
    const scope = claims['scope'];
    if (scope === 'admin') return { scope, tenantId: undefined };
    if (scope === 'tenant') {
      const tenantId = claims['tenant_id'];
      if (typeof tenantId !== 'string' || !TENANT_ID.test(tenantId)) throw unauthorized('Cannot accept a tenant-scoped token without a tenant_id of 32 hex digits');
      return { scope, tenantId };
    }
    throw unauthorized(`Cannot accept a token with scope ${JSON.stringify(scope)}: "tenant" or "admin" is needed`);
  }
}

/** Whether `claims` cover `tenantId` (undefined: an API that is not a tenant's, admin only). */
export function checkPermission(claims: JwtClaims, tenantId: string | undefined): void {
  if (claims.scope === 'admin') return;
  if (tenantId === undefined) throw new ServiceError('FORBIDDEN', 'Cannot use this API with a tenant-scoped token: it needs an admin token');
  if (claims.tenantId !== tenantId) throw new ServiceError('FORBIDDEN', `Cannot use tenant ${tenantId} with a token for tenant ${claims.tenantId}`);
}

/** Makes a token (tools and tests): HS256 with a secret, EdDSA with an Ed25519 private key. */
export function signJwt(claims: Record<string, unknown>, key: { hs256Secret: Buffer } | { ed25519PrivateKey: KeyObject }): string {
  const alg = 'hs256Secret' in key ? 'HS256' : 'EdDSA';
  const head = Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signed = Buffer.from(`${head}.${body}`);
  const sig = 'hs256Secret' in key ? createHmac('sha256', key.hs256Secret).update(signed).digest() : cryptoSign(null, signed, key.ed25519PrivateKey);
  return `${head}.${body}.${sig.toString('base64url')}`;
}
