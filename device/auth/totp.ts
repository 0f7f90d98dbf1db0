import { generateSecret, generateURI, verify } from 'otplib';

/** RFC 6238 as authenticator apps expect it: SHA-1, 6 digits, 30 s steps. */
export const TOTP_PERIOD_S = 30;
/** otplib's epochTolerance is in seconds: one period either side = ±1 step. */
const TOLERANCE_S = TOTP_PERIOD_S;

export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

export function otpauthUri(username: string, secret: string): string {
  return generateURI({ issuer: 'vegkiosk', label: username, secret, period: TOTP_PERIOD_S, digits: 6 });
}

/**
 * Checks a code within ±1 step and returns the step it matched, or null. Replay protection (each
 * code once) is the caller's: it compares the step with the last one it accepted for the user.
 */
export async function matchTotp(secret: string, code: string): Promise<number | null> {
  if (!/^\d{6}$/.test(code)) return null;
  try {
    const result = await verify({ secret, token: code, epochTolerance: TOLERANCE_S, period: TOTP_PERIOD_S });
    return result.valid && 'timeStep' in result ? result.timeStep : null;
  } catch {
    return null;
  }
}
