import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { readPiThrottling, runCommand, type CommandRunner, type ThrottlingReading } from './pi-throttling.ts';

export type BoardKind = 'raspberry-pi' | 'jetson' | 'x86' | 'other-arm' | 'unknown';

export interface ThermalZone {
  zone: string;
  type: string;
  celsius: number;
}

export interface BoardInfo {
  kind: BoardKind;
  /** Human-readable model, e.g. "Raspberry Pi 5 Model B Rev 1.0" or "NVIDIA Jetson Orin Nano Developer Kit". */
  model: string;
  /** How we know, for `vegkiosk doctor`. */
  evidence: string[];
  temperatures: ThermalZone[];
  /** Raspberry Pi only: firmware throttling flags (under-voltage, frequency cap, heat). */
  throttling?: ThrottlingReading;
}

function readText(root: string, path: string): string | null {
  try {
    // Device-tree strings are NUL-terminated.
    return readFileSync(join(root, path), 'utf8').replace(/\0+$/g, '').trim();
  } catch {
    return null;
  }
}

/** Thermal zones from sysfs (millidegrees Celsius), as every Linux board exposes them. */
export function readTemperatures(root = '/'): ThermalZone[] {
  const base = join(root, 'sys/class/thermal');
  let entries: string[];
  try {
    entries = readdirSync(base).filter((e) => e.startsWith('thermal_zone'));
  } catch {
    return [];
  }
  const zones: ThermalZone[] = [];
  for (const zone of entries.sort((a, b) => Number(a.slice(12)) - Number(b.slice(12)))) {
    const temp = readText(root, `sys/class/thermal/${zone}/temp`);
    if (temp === null || !/^-?\d+$/.test(temp)) continue;
    zones.push({ zone, type: readText(root, `sys/class/thermal/${zone}/type`) ?? 'unknown', celsius: Number(temp) / 1000 });
  }
  return zones;
}

/** The board name the CSI camera backend knows, or null where there is no CSI camera stack. */
export function csiBoard(board: BoardInfo): 'jetson' | 'pi' | null {
  return board.kind === 'jetson' ? 'jetson' : board.kind === 'raspberry-pi' ? 'pi' : null;
}

/**
 * Recognises the board from the files its vendor's kernel provides. `root` lets tests point at a
 * fake root laid out like a real Pi or Jetson; `run` runs vcgencmd (tests feed recorded output).
 */
export function detectBoard(root = '/', cpuArch: string = arch(), run: CommandRunner = runCommand): BoardInfo {
  const evidence: string[] = [];
  const dtModel = readText(root, 'proc/device-tree/model') ?? readText(root, 'sys/firmware/devicetree/base/model');
  const tegraRelease = readText(root, 'etc/nv_tegra_release');
  const nvDevices = ['dev/nvhost-ctrl', 'dev/nvhost-ctrl-gpu', 'dev/nvmap', 'dev/nvgpu'].filter((d) => existsSync(join(root, d)));
  let kind: BoardKind = cpuArch === 'x64' || cpuArch === 'ia32' ? 'x86' : cpuArch.startsWith('arm') ? 'other-arm' : 'unknown';
  let model = kind === 'x86' ? 'x86-64 computer' : `${cpuArch} computer`;

  if (dtModel) evidence.push(`device-tree model: "${dtModel}"`);
  if (dtModel && /raspberry pi/i.test(dtModel)) {
    kind = 'raspberry-pi';
    model = dtModel;
  } else if ((dtModel && /jetson|nvidia/i.test(dtModel)) || tegraRelease) {
    kind = 'jetson';
    model = dtModel ?? 'NVIDIA Jetson';
    if (tegraRelease) evidence.push(`/etc/nv_tegra_release: "${tegraRelease.split('\n')[0]}"`);
    if (nvDevices.length) evidence.push(`NVIDIA device nodes: ${nvDevices.map((d) => '/' + d).join(', ')}`);
  } else if (dtModel) {
    model = dtModel;
  } else {
    evidence.push(`no device-tree model; CPU architecture ${cpuArch}`);
  }
  const board: BoardInfo = { kind, model, evidence, temperatures: readTemperatures(root) };
  if (kind === 'raspberry-pi') board.throttling = readPiThrottling(root, run);
  return board;
}
