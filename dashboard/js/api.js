// fetch() for the vegkiosk API. The session lives only in the httpOnly cookie the server sets; the
// page never reads, stores or sends a token itself (the login answer's `token` is dropped).

export class ApiError extends Error {
  constructor(status, code, message, retryAfterS) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

const listeners = new Set();

/** Called whenever an authenticated call answers 401: the session expired or was revoked. */
export function onUnauthenticated(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * One API call. `json` is sent as a JSON body; `body` as is. Resolves with the parsed JSON (or null
 * for 204); rejects with ApiError carrying the server's code and message, or status 0 when offline.
 */
export async function api(path, { method = 'GET', json, body, headers = {}, quiet401 = false } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin', cache: 'no-store' };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  } else if (body !== undefined) {
    init.body = body;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'offline', 'The kiosk cannot be reached. Check the network and try again.');
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    // Non-JSON answers (a proxy's error page) fall through to the generic message.
  }
  if (res.ok) return data;
  const retry = Number(res.headers.get('Retry-After'));
  const err = new ApiError(
    res.status,
    data?.error?.code ?? 'http_error',
    data?.error?.message ?? `The kiosk answered ${res.status}.`,
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
  );
  if (res.status === 401 && !quiet401) for (const fn of listeners) fn(err);
  throw err;
}
