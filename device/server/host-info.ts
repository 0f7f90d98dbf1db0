import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

export interface Temperature {
  zone: string;
  type: string;
  celsius: number;
}

/** SoC and board temperatures from the kernel's thermal zones (Pi and Jetson both expose them). */
export function readTemperatures(root = '/sys/class/thermal'): Temperature[] {
  let zones: string[];
  try {
    zones = readdirSync(root).filter((z) => z.startsWith('thermal_zone'));
  } catch {
    return [];
  }
  const out: Temperature[] = [];
  for (const zone of zones.slice(0, 32)) {
    try {
      const milli = Number(readFileSync(join(root, zone, 'temp'), 'utf8').trim());
      if (!Number.isFinite(milli)) continue;
      let type = zone;
      try { type = readFileSync(join(root, zone, 'type'), 'utf8').trim(); } catch { /* type is optional */ }
      out.push({ zone, type, celsius: Math.round(milli / 100) / 10 });
    } catch {
      // Some zones refuse reads (permissions, powered-down sensors); skip them.
    }
  }
  return out;
}

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
