import { chownSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * After a CLI run as root (`sudo vegkiosk enroll …`), hands the files it created or replaced back
 * to the data directory's owner — the service user — so the service can still read them. A no-op
 * for any other user, who cannot have created files the service cannot read in its own directory.
 */
export function restoreDataDirOwnership(dataDir: string): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0 || !existsSync(dataDir)) return;
  const { uid, gid } = statSync(dataDir);
  if (uid === 0) return;
  for (const name of readdirSync(dataDir)) {
    const path = join(dataDir, name);
    const s = statSync(path);
    if (s.isFile() && s.uid !== uid) chownSync(path, uid, gid);
  }
}
