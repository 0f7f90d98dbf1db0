import type { IncomingMessage } from 'node:http';

/**
 * Browser origins allowed to use the session cookie: the service's own (as the browser addressed it,
 * i.e. scheme + Host header) and the operator's VEGKIOSK_ALLOWED_ORIGINS. Used for CORS, CSRF checks
 * on state-changing requests and the WebSocket upgrade.
 */
export function isAllowedOrigin(origin: string, req: IncomingMessage, secure: boolean, allowList: string[]): boolean {
  const normalised = origin.trim().toLowerCase().replace(/\/$/, '');
  const host = req.headers.host?.toLowerCase();
  if (host && normalised === `${secure ? 'https' : 'http'}://${host}`) return true;
  return allowList.some((o) => o.toLowerCase().replace(/\/$/, '') === normalised);
}

/** The operator's allow-list entry for `origin` (cross-origin CORS), if any. */
export function isListedOrigin(origin: string, allowList: string[]): boolean {
  const normalised = origin.trim().toLowerCase().replace(/\/$/, '');
  return allowList.some((o) => o.toLowerCase().replace(/\/$/, '') === normalised);
}
