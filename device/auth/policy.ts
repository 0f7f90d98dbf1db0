/** Tunables of the login and session controls. Defaults suit a LAN kiosk; tests shorten them. */
export interface AuthPolicy {
  /** Session (JWT) lifetime. */
  sessionTtlS: number;
  /** Consecutive failures for one username before it is locked. */
  maxFailures: number;
  /** First lock; each further failure after a lock doubles it, up to lockoutMaxS. */
  lockoutBaseS: number;
  lockoutMaxS: number;
  /** Login attempts per client IP per window (koa-ratelimit), whatever the username. */
  loginRateMax: number;
  loginRateWindowMs: number;
}

export const DEFAULT_AUTH_POLICY: AuthPolicy = {
  sessionTtlS: 8 * 3600,
  maxFailures: 5,
  lockoutBaseS: 30,
  lockoutMaxS: 15 * 60,
  loginRateMax: 10,
  loginRateWindowMs: 60_000,
};

/** Lock length after `failures` consecutive failures (0 below the threshold). */
export function lockoutSeconds(policy: AuthPolicy, failures: number): number {
  if (failures < policy.maxFailures) return 0;
  return Math.min(policy.lockoutMaxS, policy.lockoutBaseS * 2 ** (failures - policy.maxFailures));
}
