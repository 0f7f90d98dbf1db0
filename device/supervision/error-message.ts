/**
 * What a caught value says, for a log line or a message to a technician. `catch (err)` gives
 * `unknown`: a library may throw a string or a plain object, and `(err as Error).message` then logs
 * `undefined` where the cause should be.
 */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Node's errno code (ENOENT, EACCES, …) when there is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return undefined;
}
