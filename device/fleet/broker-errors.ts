// What went wrong with the broker, in words a technician can act on. MQTT.js hands over a socket
// error, a TLS error or a CONNACK reason code; each becomes one line that names the cause and the key
// to check, and says whether retrying alone can fix it (those wait the back-off's ceiling at once).
import { errnoCode, errorMessage } from '../supervision/error-message.ts';

export interface BrokerProblem {
  message: string;
  /** Retrying will not help until someone changes something (credentials, CA): retry slowly. */
  permanent: boolean;
  /** Epoch ms. */
  at: number;
}

const NOT_AUTHORISED = 'the broker refused the login as not authorised (check VEGKIOSK_MQTT_USERNAME and VEGKIOSK_MQTT_PASSWORD, and the broker\'s users and ACL)';

/** CONNACK refusals, MQTT 5 reason codes and their MQTT 3.1.1 return codes. */
const REFUSALS: Record<number, { message: string; permanent: boolean }> = {
  4: { message: 'the broker refused the user name or password (check VEGKIOSK_MQTT_USERNAME and VEGKIOSK_MQTT_PASSWORD)', permanent: true },
  // Mosquitto answers a wrong password with this one too: it does not tell the two apart.
  5: { message: NOT_AUTHORISED, permanent: true },
  134: { message: 'the broker refused the user name or password (check VEGKIOSK_MQTT_USERNAME and VEGKIOSK_MQTT_PASSWORD)', permanent: true },
  135: { message: NOT_AUTHORISED, permanent: true },
  133: { message: 'the broker refused the client id (check VEGKIOSK_KIOSK_ID)', permanent: true },
  136: { message: 'the broker is unavailable', permanent: false },
  137: { message: 'the broker is busy', permanent: false },
  138: { message: 'the broker has banned this client', permanent: true },
  151: { message: 'the broker says the quota is exceeded', permanent: false },
};

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA',
]);

export function describeBrokerError(err: unknown, url: string, now = Date.now()): BrokerProblem {
  let host = url;
  try {
    host = new URL(url).host;
  } catch {
    // The URL was validated at start; keep the text as it is.
  }
  const code = typeof err === 'object' && err !== null && 'code' in err ? (err as { code: unknown }).code : undefined;
  if (typeof code === 'number' && REFUSALS[code]) return { ...REFUSALS[code], at: now };
  const errno = errnoCode(err);
  if (errno && TLS_CODES.has(errno)) {
    return { message: `the broker's TLS certificate was refused (${errno}); check VEGKIOSK_MQTT_CA and the broker's host name`, permanent: true, at: now };
  }
  switch (errno) {
    case 'ENOTFOUND':
      return { message: `the broker host ${host} does not resolve (check VEGKIOSK_MQTT_URL and DNS)`, permanent: false, at: now };
    case 'EAI_AGAIN':
      return { message: `the broker host ${host} could not be resolved now (DNS not answering)`, permanent: false, at: now };
    case 'ECONNREFUSED':
      return { message: `connection refused by ${host} (is the broker running on that port?)`, permanent: false, at: now };
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { message: `cannot reach ${host} (${errno})`, permanent: false, at: now };
    case 'ECONNRESET':
    case 'EPIPE':
      return { message: `the connection to ${host} was reset`, permanent: false, at: now };
    default:
      break;
  }
  const message = errorMessage(err);
  if (/wrong version number|ssl|tls/i.test(message)) {
    return { message: `TLS with ${host} failed: ${message} (mqtts:// to a plain port, or the reverse?)`, permanent: true, at: now };
  }
  return { message: `${host}: ${message}`, permanent: false, at: now };
}
