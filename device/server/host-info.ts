import { statfsSync } from 'node:fs';

export interface DiskInfo {
  path: string;
  totalBytes: number;
  freeBytes: number;
}

/** Space left where the data files live: a full SD card is the commonest way a kiosk dies quietly. */
export function readDisk(path: string): DiskInfo | null {
  try {
    const s = statfsSync(path);
    return { path, totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  } catch {
    return null;
  }
}
