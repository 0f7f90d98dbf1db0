import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Raspberry Pi firmware throttling flags, as `vcgencmd get_throttled` prints them
 * ("throttled=0x50005"). Bits 0-3 are the state now, bits 16-19 the same conditions since boot:
 * under-voltage, ARM frequency capped, throttled, soft temperature limit. A kiosk on a weak power
 * supply or in a hot enclosure runs slower (or corrupts its SD card) without any other sign.
 */
export interface ThrottleFlags {
  underVoltage: boolean;
  armFrequencyCapped: boolean;
  throttled: boolean;
  softTemperatureLimit: boolean;
}

export interface PiThrottling {
  /** Where the value came from. */
  source: 'vcgencmd' | 'hwmon';
  /** The raw bit mask, e.g. "0x50005"; null when only the hwmon under-voltage alarm was readable. */
  hex: string | null;
  now: ThrottleFlags;
  /** Null when the source cannot tell (hwmon has no history). */
  sinceBoot: ThrottleFlags | null;
  /** One line per condition found, with what to do about it; empty when all is well. */
  advice: string[];
}

/** Runs a program and returns what it printed; null when it is not installed. Tests inject recorded output. */
export type CommandRunner = (command: string, args: string[]) => { status: number | null; stdout: string; stderr: string } | null;

export const runCommand: CommandRunner = (command, args) => {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 3000 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return null;
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error?.message ?? '') };
};

const flags = (mask: number, shift: number): ThrottleFlags => ({
  underVoltage: (mask & (1 << shift)) !== 0,
  armFrequencyCapped: (mask & (2 << shift)) !== 0,
  throttled: (mask & (4 << shift)) !== 0,
  softTemperatureLimit: (mask & (8 << shift)) !== 0,
});

function advise(now: ThrottleFlags, since: ThrottleFlags | null): string[] {
  const out: string[] = [];
  const any = (k: keyof ThrottleFlags) => now[k] || (since?.[k] ?? false);
  const when = (k: keyof ThrottleFlags) => (now[k] ? 'now' : 'since boot');
  if (any('underVoltage')) {
    out.push(`under-voltage ${when('underVoltage')}: use the official power supply (Pi 4: 5.1 V 3 A, Pi 5: 5.1 V 5 A) ` +
      'and a short, thick USB-C cable; under-voltage slows the CPU and can corrupt the SD card');
  }
  if (any('throttled') || any('armFrequencyCapped')) {
    out.push(`CPU ${now.throttled || now.armFrequencyCapped ? 'throttled now' : 'was throttled since boot'}: ` +
      'inference runs slower than benchmarked; check power and cooling');
  }
  if (any('softTemperatureLimit')) {
    out.push(`soft temperature limit ${when('softTemperatureLimit')} (about 60 °C on a Pi 3B+): add a heatsink or fan, ventilate the enclosure`);
  }
  return out;
}

/** Decodes `vcgencmd get_throttled` output; throws with the text when it is not that format. */
export function decodeThrottled(output: string): PiThrottling {
  const m = /^throttled=(0x[0-9a-f]+|\d+)\s*$/i.exec(output.trim());
  if (!m) throw new Error(`unexpected vcgencmd get_throttled output: ${JSON.stringify(output.trim().slice(0, 200))}`);
  const mask = Number(m[1]);
  const now = flags(mask, 0);
  const sinceBoot = flags(mask, 16);
  return { source: 'vcgencmd', hex: `0x${mask.toString(16)}`, now, sinceBoot, advice: advise(now, sinceBoot) };
}

/**
 * The under-voltage alarm the Pi kernel's raspberrypi-hwmon driver exposes
 * (/sys/class/hwmon/hwmonN/name "rpi_volt", in0_lcrit_alarm 0/1): readable by the sandboxed
 * service user, which usually may not talk to the firmware through /dev/vcio.
 */
function readHwmonUnderVoltage(root: string): boolean | null {
  const base = join(root, 'sys/class/hwmon');
  let entries: string[];
  try {
    entries = readdirSync(base);
  } catch {
    return null;
  }
  for (const entry of entries) {
    try {
      if (readFileSync(join(base, entry, 'name'), 'utf8').trim() !== 'rpi_volt') continue;
      return readFileSync(join(base, entry, 'in0_lcrit_alarm'), 'utf8').trim() === '1';
    } catch {
      continue;
    }
  }
  return null;
}

export interface ThrottlingReading {
  throttling: PiThrottling | null;
  /** Why nothing could be read, for `vegkiosk doctor`. */
  problem: string | null;
}

/** vcgencmd first (full flags, now and since boot), else the hwmon under-voltage alarm. */
export function readPiThrottling(root = '/', run: CommandRunner = runCommand): ThrottlingReading {
  const r = run('vcgencmd', ['get_throttled']);
  let problem: string;
  if (r === null) problem = 'vcgencmd is not installed (Raspberry Pi OS: sudo apt install libraspberrypi-bin or raspi-utils)';
  else if (r.status === 0) {
    try {
      return { throttling: decodeThrottled(r.stdout), problem: null };
    } catch (err) {
      problem = (err as Error).message;
    }
  } else {
    const said = `${r.stdout} ${r.stderr}`.replace(/\s+/g, ' ').trim().slice(0, 200);
    problem = `vcgencmd get_throttled failed (exit ${r.status}${said ? `: ${said}` : ''}); ` +
      'the user needs access to /dev/vcio (add it to the video group)';
  }
  const underVoltage = readHwmonUnderVoltage(root);
  if (underVoltage === null) return { throttling: null, problem };
  const now: ThrottleFlags = { underVoltage, armFrequencyCapped: false, throttled: false, softTemperatureLimit: false };
  return { throttling: { source: 'hwmon', hex: null, now, sinceBoot: null, advice: advise(now, null) }, problem };
}

/** "under-voltage, throttled" or "none", for one line of output. */
export function describeFlags(f: ThrottleFlags): string {
  const names = [
    f.underVoltage && 'under-voltage', f.armFrequencyCapped && 'ARM frequency capped',
    f.throttled && 'throttled', f.softTemperatureLimit && 'soft temperature limit',
  ].filter(Boolean);
  return names.length ? names.join(', ') : 'none';
}

/** What `vegkiosk doctor` prints about throttling (without indentation). */
export function throttlingLines(reading: ThrottlingReading): string[] {
  const { throttling: t, problem } = reading;
  const lines: string[] = [];
  if (t) {
    const from = t.source === 'vcgencmd' ? `vcgencmd get_throttled ${t.hex}` : 'hwmon rpi_volt';
    lines.push(`throttling (${from}): now ${describeFlags(t.now)}${t.sinceBoot ? `; since boot ${describeFlags(t.sinceBoot)}` : ''}`);
    for (const a of t.advice) lines.push(`  ${a}`);
  }
  if (problem) lines.push(`throttling ${t ? 'flags beyond under-voltage unavailable' : 'unknown'}: ${problem}`);
  return lines;
}
