import { statfsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';

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

export interface CpuInfo {
  /** Load averages over 1, 5 and 15 minutes (runnable tasks, comparable to `cores`). */
  loadAvg: [number, number, number];
  cores: number;
  model: string;
}

/** How busy the board is: a load above the core count means frames queue behind other work. */
export function readCpu(): CpuInfo {
  const [l1, l5, l15] = loadavg().map((x) => Math.round(x * 100) / 100);
  return { loadAvg: [l1, l5, l15], cores: availableParallelism(), model: cpus()[0]?.model?.trim() ?? 'unknown' };
}
