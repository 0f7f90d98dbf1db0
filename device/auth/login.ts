import type { Logger } from '../logger.ts';
import { failuresOf, pruneLogins, type LoginFailures } from '../store/auth-state-store.ts';
import { findUser, USERNAME_PATTERN, type UserRecord } from '../store/users-store.ts';
import type { AuthStores } from './auth-stores.ts';
import { lockoutSeconds, type AuthPolicy } from './policy.ts';
import { open } from './secret-box.ts';
import type { Session, Sessions } from './sessions.ts';
import { matchTotp, newTotpSecret } from './totp.ts';

export type LoginOutcome =
  | { ok: true; user: UserRecord; token: string; session: Session }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'locked'; retryAfterS: number };

/**
 * TOTP login with per-username lockout. Unknown usernames go through exactly the same steps (a code
 * checked against a decoy secret, failures counted, lockout applied), so neither the answer nor its
 * timing tells an attacker which usernames exist.
 */
export class LoginService {
  private readonly decoySecret = newTotpSecret();

  constructor(
    private readonly stores: AuthStores,
    private readonly sessions: Sessions,
    private readonly policy: AuthPolicy,
    private readonly logger: Logger,
    private readonly onFailure: () => void = () => {},
  ) {}

  async login(username: string, code: string, ip: string): Promise<LoginOutcome> {
    // No user can have a name outside the enrolment pattern, so such a name is an unknown user and is
    // answered like one before it becomes a key of the failure records ("__proto__" as a key would
    // reach Object.prototype).
    if (!USERNAME_PATTERN.test(username)) {
      this.onFailure();
      this.stores.audit.record({ event: 'login_failed', user: username, ip, detail: 'not a valid username' });
      return { ok: false, reason: 'invalid' };
    }
    const now = Date.now();
    const state = this.stores.authState;
    state.refresh();
    const previous = failuresOf(state.data, username);
    if (previous && previous.lockedUntil > now) {
      this.onFailure();
      // No code is checked while locked: guesses made during a lock are worthless. They are still
      // audited, so attempts that go on during a lock leave a trace (the per-IP limit bounds them).
      const retryAfterS = Math.ceil((previous.lockedUntil - now) / 1000);
      this.stores.audit.record({ event: 'login_failed', user: username, ip, detail: `refused unchecked: locked for ${retryAfterS} s more` });
      return { ok: false, reason: 'locked', retryAfterS };
    }

    this.stores.users.refresh();
    const user = findUser(this.stores.users.data, username);
    let secret = this.decoySecret;
    if (user) {
      try {
        secret = open(this.stores.totpKey, user.totp, user.id);
      } catch {
        this.logger.error({ user: username }, 'cannot decrypt TOTP secret (wrong or replaced totp-secrets.key?)');
      }
    }
    const step = await matchTotp(secret, code);

    // Check-and-record in one synchronous update, so two requests racing with one code cannot both pass.
    const accepted = state.update((d) => {
      const entry: LoginFailures = failuresOf(d, username) ?? { failures: 0, lockedUntil: 0, lastAttemptAt: 0 };
      entry.lastAttemptAt = now;
      const fresh = user !== undefined && step !== null && step > (d.lastStep[user.id] ?? -1);
      if (fresh) {
        d.lastStep[user.id] = step;
        delete d.logins[username];
        return { ok: true as const };
      }
      entry.failures += 1;
      const lockS = lockoutSeconds(this.policy, entry.failures);
      entry.lockedUntil = lockS > 0 ? now + lockS * 1000 : 0;
      d.logins[username] = entry;
      pruneLogins(d, now);
      return { ok: false as const, lockS, failures: entry.failures, replay: user !== undefined && step !== null };
    });

    if (accepted.ok && user) {
      const { token, session } = this.sessions.issue(user);
      this.stores.audit.record({ event: 'login', user: username, actor: username, ip });
      return { ok: true, user, token, session };
    }
    this.onFailure();
    if (!accepted.ok) {
      this.stores.audit.record({
        event: 'login_failed', user: username, ip,
        detail: `${accepted.replay ? 'code already used' : 'wrong code or unknown user'}; ${accepted.failures} in a row`,
      });
      if (accepted.lockS > 0) {
        this.stores.audit.record({ event: 'lockout', user: username, ip, detail: `locked for ${accepted.lockS} s after ${accepted.failures} failures` });
      }
    }
    return { ok: false, reason: 'invalid' };
  }
}
