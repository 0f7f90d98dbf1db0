import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'otplib';
import { openAuthStores, type AuthStores } from '../device/auth/auth-stores.ts';
import { loadOrCreateKeyFile, resolveJwtSecret } from '../device/auth/key-files.ts';
import { LoginService } from '../device/auth/login.ts';
import { DEFAULT_AUTH_POLICY, lockoutSeconds, type AuthPolicy } from '../device/auth/policy.ts';
import { open, seal } from '../device/auth/secret-box.ts';
import { Sessions } from '../device/auth/sessions.ts';
import { UserAdmin, UserAdminError } from '../device/auth/user-admin.ts';
import { createLogger } from '../device/logger.ts';
import { captureLogger, tempDir, testConfig } from './support/https-fixtures.ts';

const secretOf = (uri: string) => new URL(uri).searchParams.get('secret') ?? '';
const codeAt = (secret: string, offsetS = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetS });

describe('auth: secrets at rest', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => { dir = tempDir(); });
  afterEach(() => dir.remove());

  it('creates key files once with mode 0600', () => {
    const a = loadOrCreateKeyFile(dir.path, 'k.key', 32);
    const b = loadOrCreateKeyFile(dir.path, 'k.key', 32);
    expect(a.equals(b)).to.equal(true);
    expect(statSync(join(dir.path, 'k.key')).mode & 0o777).to.equal(0o600);
  });

  it('refuses a configured JWT secret under 32 bytes and generates one when none is set', () => {
    expect(() => resolveJwtSecret(testConfig(dir.path, { jwtSecret: 'short-secret' }))).to.throw(/VEGKIOSK_JWT_SECRET: too weak/);
    expect(resolveJwtSecret(testConfig(dir.path, { jwtSecret: 'x'.repeat(32) })).length).to.equal(32);
    const generated = resolveJwtSecret(testConfig(dir.path));
    expect(generated.length).to.equal(64);
    expect(statSync(join(dir.path, 'jwt-secret.key')).mode & 0o777).to.equal(0o600);
  });

  it('encrypts TOTP secrets with AES-256-GCM bound to the user id', () => {
    const key = loadOrCreateKeyFile(dir.path, 'k.key', 32);
    const sealed = seal(key, 'JBSWY3DPEHPK3PXPJBSWY3DP', 'user-1');
    expect(open(key, sealed, 'user-1')).to.equal('JBSWY3DPEHPK3PXPJBSWY3DP');
    expect(() => open(key, sealed, 'user-2')).to.throw();
  });

  it('redacts otpauth URIs, codes, tokens and secrets from logs', () => {
    const { logger, lines } = captureLogger();
    logger.info({ otpauthUri: 'otpauth://totp/x?secret=SEKRIT1', body: { code: '123456', token: 'eyJtok' }, user: { totpSecret: 'SEKRIT2' } }, 'x');
    expect(lines.join('')).not.to.match(/SEKRIT|123456|eyJtok/);
  });

  it('never writes the TOTP secret in clear to users.json', () => {
    const stores = openAuthStores(dir.path);
    const { otpauthUri } = new UserAdmin(stores.users, stores.audit, stores.totpKey).enroll('alice', 'admin', 'console');
    expect(readFileSync(stores.users.path, 'utf8')).not.to.include(secretOf(otpauthUri));
  });
});

describe('auth: TOTP login, replay and lockout', () => {
  let dir: ReturnType<typeof tempDir>;
  let stores: AuthStores;
  let sessions: Sessions;
  let login: LoginService;
  let secret: string;
  const policy: AuthPolicy = { ...DEFAULT_AUTH_POLICY, maxFailures: 3, lockoutBaseS: 60 };

  beforeEach(() => {
    dir = tempDir();
    stores = openAuthStores(dir.path);
    sessions = new Sessions(Buffer.alloc(32, 7), stores, 3600);
    login = new LoginService(stores, sessions, policy, createLogger('silent'));
    secret = secretOf(new UserAdmin(stores.users, stores.audit, stores.totpKey).enroll('alice', 'technician', 'console').otpauthUri);
  });
  afterEach(() => dir.remove());

  it('accepts a current code and one step either side, not two', async () => {
    expect((await login.login('alice', await codeAt(secret, -30), '127.0.0.1')).ok).to.equal(true);
    expect((await login.login('alice', await codeAt(secret), '127.0.0.1')).ok).to.equal(true);
    expect((await login.login('alice', await codeAt(secret, 30), '127.0.0.1')).ok).to.equal(true);
    expect((await login.login('alice', await codeAt(secret, 90), '127.0.0.1')).ok).to.equal(false);
  });

  it('accepts each code once (replay refused, also by a fresh process)', async () => {
    const code = await codeAt(secret);
    expect((await login.login('alice', code, '127.0.0.1')).ok).to.equal(true);
    expect(await login.login('alice', code, '127.0.0.1')).to.deep.equal({ ok: false, reason: 'invalid' });
    const restarted = new LoginService(openAuthStores(dir.path), sessions, policy, createLogger('silent'));
    expect((await restarted.login('alice', code, '127.0.0.1')).ok).to.equal(false);
    expect(stores.audit.recent(5).some((e) => e.detail?.includes('code already used'))).to.equal(true);
  });

  it('answers names no user can have like unknown users, and keeps each name on its own failure record (no prototype pollution)', async () => {
    for (const name of ['__proto__', 'Alice', 'a b']) {
      for (let i = 0; i < 6; i++) expect(await login.login(name, '000000', '127.0.0.1'), name).to.deep.equal({ ok: false, reason: 'invalid' });
    }
    expect(stores.audit.recent(1)[0]).to.deep.include({ event: 'login_failed', user: 'a b', detail: 'not a valid username' });
    // "constructor" is a name a user may have: it fails and locks like any other, on its own record
    for (let i = 0; i < 3; i++) expect(await login.login('constructor', '000000', '127.0.0.1')).to.deep.equal({ ok: false, reason: 'invalid' });
    expect(await login.login('constructor', '000000', '127.0.0.1')).to.deep.include({ ok: false, reason: 'locked' });
    const plain: Record<string, unknown> = {};
    expect(plain.failures).to.equal(undefined);
    expect((Object as unknown as Record<string, unknown>).failures).to.equal(undefined);
    // and the file still loads in a fresh process
    const reloaded = openAuthStores(dir.path).authState.data.logins;
    expect(Object.hasOwn(reloaded, '__proto__')).to.equal(false);
    expect(reloaded.constructor).to.deep.include({ failures: 3 });
  });

  it('gives unknown users and wrong codes the same outcome', async () => {
    const wrong = await login.login('alice', '000000', '127.0.0.1');
    const unknown = await login.login('mallory', await codeAt(secret), '127.0.0.1');
    expect(unknown).to.deep.equal(wrong);
  });

  it('locks a username after repeated failures, with growing delay, and audits it', async () => {
    for (let i = 0; i < 3; i++) await login.login('alice', '000000', '10.0.0.1');
    const locked = await login.login('alice', await codeAt(secret), '10.0.0.1');
    expect(locked).to.deep.include({ ok: false, reason: 'locked' });
    expect((locked as { retryAfterS: number }).retryAfterS).to.be.within(55, 60);
    expect(stores.audit.recent(10).map((e) => e.event)).to.include('lockout');
    // the attempt made during the lock is audited too, without its code
    const refused = stores.audit.recent(1)[0]!;
    expect(refused).to.deep.include({ event: 'login_failed', user: 'alice', ip: '10.0.0.1' });
    expect(refused.detail).to.match(/^refused unchecked: locked for \d+ s more$/);
    // Unknown usernames lock the same way, so a lock does not reveal that a user exists.
    for (let i = 0; i < 3; i++) await login.login('nobody', '000000', '10.0.0.1');
    expect(await login.login('nobody', '000000', '10.0.0.1')).to.deep.include({ reason: 'locked' });
    expect([3, 4, 5, 12].map((n) => lockoutSeconds(policy, n))).to.deep.equal([60, 120, 240, 900]);
  });
});

describe('auth: session tokens', () => {
  let dir: ReturnType<typeof tempDir>;
  let stores: AuthStores;
  let sessions: Sessions;
  let admin: UserAdmin;
  const key = Buffer.alloc(32, 9);

  beforeEach(() => {
    dir = tempDir();
    stores = openAuthStores(dir.path);
    sessions = new Sessions(key, stores, 3600);
    admin = new UserAdmin(stores.users, stores.audit, stores.totpKey);
    admin.enroll('alice', 'viewer', 'console');
  });
  afterEach(() => dir.remove());

  const alice = () => stores.users.data.users[0];

  it('issues HS256 tokens with expiry, role and jti, and verifies them', () => {
    const { token, session } = sessions.issue(alice());
    const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
    expect(header.alg).to.equal('HS256');
    const claims = jwt.decode(token) as jwt.JwtPayload;
    expect(claims).to.include({ sub: 'alice', role: 'viewer' });
    expect(claims.exp! - claims.iat!).to.equal(3600);
    expect(claims.jti).to.be.a('string');
    expect(sessions.verify(token)).to.deep.equal(session);
  });

  it('refuses alg none, another algorithm, another key and expired tokens', () => {
    const base = { sub: 'alice', uid: alice().id, role: 'admin', jti: 'x', iss: 'vegkiosk', aud: 'vegkiosk-session' };
    const none = jwt.sign(base, '', { algorithm: 'none', expiresIn: 60 });
    const hs512 = jwt.sign(base, key, { algorithm: 'HS512', expiresIn: 60 });
    const otherKey = jwt.sign(base, Buffer.alloc(32, 1), { algorithm: 'HS256', expiresIn: 60 });
    const expired = jwt.sign({ ...base, role: 'viewer', exp: Math.floor(Date.now() / 1000) - 10 }, key, { algorithm: 'HS256' });
    for (const token of [none, hs512, otherKey, expired]) expect(sessions.verify(token)).to.equal(null);
  });

  it('revokes on logout and on user removal, also when the removal came from another process', () => {
    const a = sessions.issue(alice());
    sessions.revoke(a.session);
    expect(sessions.verify(a.token)).to.equal(null);
    const b = sessions.issue(alice());
    // The CLI opens its own stores on the same files.
    const cli = openAuthStores(dir.path);
    new UserAdmin(cli.users, cli.audit, cli.totpKey).remove('alice', 'console');
    expect(sessions.verify(b.token)).to.equal(null);
    admin.enroll('alice', 'viewer', 'console'); // same name, new id: the old token stays dead
    expect(sessions.verify(b.token)).to.equal(null);
  });

  it('refuses duplicate users, bad names and removing the last admin from the API', () => {
    expect(() => admin.enroll('alice', 'viewer', 'console')).to.throw(UserAdminError, /already exists/);
    expect(() => admin.enroll('Bad Name', 'viewer', 'console')).to.throw(UserAdminError, /username/);
    admin.enroll('root', 'admin', 'console');
    expect(() => admin.remove('root', 'someone')).to.throw(UserAdminError, /last admin/);
  });
});
