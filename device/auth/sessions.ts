import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { findUser, ROLES, type Role, type UserRecord } from '../store/users-store.ts';
import type { AuthStores } from './auth-stores.ts';

export interface Session {
  username: string;
  /** The user record's id: a removed and re-enrolled user does not inherit old sessions. */
  uid: string;
  role: Role;
  jti: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

const ALGORITHM = 'HS256';
const ISSUER = 'vegkiosk';
const AUDIENCE = 'vegkiosk-session';

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/**
 * Session tokens: HS256 JWTs with an explicit algorithm on both sign and verify (no "none", no key
 * confusion), expiry, role claim and a jti for server-side revocation. A token is only as good as
 * the user behind it: removed users, changed roles and revoked jtis fail verification at once.
 */
export class Sessions {
  constructor(
    private readonly secret: Buffer,
    private readonly stores: Pick<AuthStores, 'users' | 'revocations'>,
    private readonly ttlS: number,
  ) {}

  issue(user: UserRecord): { token: string; session: Session } {
    const jti = randomUUID();
    const token = jwt.sign({ role: user.role, uid: user.id }, this.secret, {
      algorithm: ALGORITHM, expiresIn: this.ttlS, subject: user.username, jwtid: jti, issuer: ISSUER, audience: AUDIENCE,
    });
    const { exp } = jwt.decode(token) as { exp: number };
    return { token, session: { username: user.username, uid: user.id, role: user.role, jti, exp } };
  }

  /** The session a token stands for, or null (bad signature, wrong algorithm, expired, revoked, user gone). */
  verify(token: string): Session | null {
    let claims: jwt.JwtPayload;
    try {
      const decoded = jwt.verify(token, this.secret, { algorithms: [ALGORITHM], issuer: ISSUER, audience: AUDIENCE });
      if (typeof decoded === 'string') return null;
      claims = decoded;
    } catch {
      return null;
    }
    const { sub, uid, role, jti, exp } = claims;
    if (typeof sub !== 'string' || typeof uid !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') return null;
    if (!ROLES.includes(role)) return null;
    const session: Session = { username: sub, uid, role, jti, exp };
    return this.isLive(session) ? session : null;
  }

  /** Re-checks a session already accepted (WebSocket clients, every second): expiry, revocation, user. */
  isLive(session: Session): boolean {
    if (session.exp * 1000 <= Date.now()) return false;
    if (this.stores.revocations.isRevoked(session.jti)) return false;
    this.stores.users.refresh();
    const user = findUser(this.stores.users.data, session.username);
    return !!user && user.id === session.uid && user.role === session.role;
  }

  revoke(session: Session): void {
    this.stores.revocations.revoke(session.jti, session.exp);
  }
}
