// Parsers for the fleet (MQTT) keys. The publisher reads the values as these parsers leave them, so
// what check-config accepts is exactly what the publisher can use.
import { hostname } from 'node:os';
import { InvalidValue } from './config-key.ts';

/** Empty (fleet off), or mqtt://host[:port] / mqtts://host[:port]; credentials belong in their own keys. */
export function mqttUrl(s: string): string {
  if (s === '') return s;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new InvalidValue('not a URL', { showValue: false, expected: 'mqtt://host:1883 or mqtts://host:8883' });
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') {
    throw new InvalidValue(`scheme must be mqtt:// or mqtts://, not ${url.protocol}//`, { showValue: false });
  }
  // A password in the URL would end up in logs and the status view; there are keys for it.
  if (url.username || url.password) {
    throw new InvalidValue('must not carry a user name or password; use VEGKIOSK_MQTT_USERNAME and VEGKIOSK_MQTT_PASSWORD', { showValue: false });
  }
  if (!url.hostname) throw new InvalidValue('has no host', { showValue: false });
  if (url.pathname !== '' && url.pathname !== '/') throw new InvalidValue('must not have a path', { showValue: false });
  return s;
}

const KIOSK_ID = /^[A-Za-z0-9_-]+$/;

/** A kiosk id as written, or empty for the host name (see kioskIdOrHostName). */
export function kioskId(s: string): string {
  if (s !== '' && !KIOSK_ID.test(s)) throw new InvalidValue('may contain only letters, digits, _ and -');
  if (s.length > 64) throw new InvalidValue('must be at most 64 characters', { showValue: false });
  return s;
}

/** The configured kiosk id, or the host name made into one (first label, other characters as -). */
export function kioskIdOrHostName(configured: string, host = hostname()): string {
  if (configured) return configured;
  const first = host.split('.')[0] ?? '';
  const cleaned = first.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
  return cleaned || 'kiosk';
}

/** One or more topic levels without wildcards, empty levels or a leading/trailing slash. */
export function topicPrefix(s: string): string {
  if (/[+#\0]/.test(s)) throw new InvalidValue('must not contain MQTT wildcards (+, #) or NUL');
  if (s.split('/').some((level) => level === '')) throw new InvalidValue('must not start or end with / or contain //');
  return s;
}
