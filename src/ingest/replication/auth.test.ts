import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { md5PasswordResponse, saslPrep, ScramClient } from './auth.js';
import { ReplicationError } from './errors.js';

// RFC 7677 section 3: the SCRAM-SHA-256 exchange for user "user", password "pencil".
test('SCRAM-SHA-256 reproduces the RFC 7677 example exchange', () => {
  const c = new ScramClient('pencil', { nonce: 'rOprNGfwEbeRWgbNEkqO', username: 'user' });
  assert.equal(c.clientFirstMessage().toString(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
  assert.equal(
    c.clientFinalMessage(Buffer.from(serverFirst)).toString(),
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  );
  c.verifyServerFinal(Buffer.from('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='));
});

test('SCRAM refuses a wrong server signature, a server error and a nonce that is not ours', () => {
  const c = new ScramClient('pencil', { nonce: 'rOprNGfwEbeRWgbNEkqO', username: 'user' });
  c.clientFinalMessage(Buffer.from('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'));
  assert.throws(() => c.verifyServerFinal(Buffer.from('v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')), (e: unknown) => e instanceof ReplicationError && e.code === 'AUTH_FAILED');
  assert.throws(() => c.verifyServerFinal(Buffer.from('e=invalid-proof')), /invalid-proof/);
  const d = new ScramClient('pencil', { nonce: 'abc' });
  assert.throws(() => d.clientFinalMessage(Buffer.from('r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')), /nonce/);
  assert.throws(() => d.clientFinalMessage(Buffer.from('r=abc123,s=W22ZaJ0SNY7soEsUEjb6gQ==')), /r, s and i/);
  // libpq's form: an empty user name (the server uses the startup packet's) and a base64 nonce.
  assert.match(d.clientFirstMessage().toString(), /^n,,n=,r=abc$/);
  assert.match(new ScramClient('x').clientFirstMessage().toString(), /^n,,n=,r=[A-Za-z0-9+/]{24}$/);
});

test('md5 answers "md5" + md5(md5(password + user) + salt)', () => {
  const salt = Buffer.from([1, 2, 3, 4]);
  const inner = createHash('md5').update('secretrepl').digest('hex');
  const expected = 'md5' + createHash('md5').update(inner).update(salt).digest('hex');
  assert.equal(md5PasswordResponse('repl', 'secret', salt), expected);
  assert.match(expected, /^md5[0-9a-f]{32}$/);
});

// RFC 4013 section 3's examples.
test('SASLprep maps, normalises, and keeps prohibited passwords raw as PostgreSQL does', () => {
  assert.equal(saslPrep('I\u00ADX'), 'IX');
  assert.equal(saslPrep('user'), 'user');
  assert.equal(saslPrep('USER'), 'USER');
  assert.equal(saslPrep('\u00AA'), 'a');
  assert.equal(saslPrep('\u2168'), 'IX');
  assert.equal(saslPrep('a\u00A0b'), 'a b');
  assert.equal(saslPrep('\u0007'), '\u0007');
  assert.equal(saslPrep('é\u0007'), 'é\u0007');
});
