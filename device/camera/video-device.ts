import { constants } from 'node:fs';
import { access, readFile, readdir } from 'node:fs/promises';
import { errnoCode, errorMessage } from '../supervision/error-message.ts';
import { SourceError } from './source-error.ts';

/**
 * Checks a /dev/videoN node before a capture program is started, so the technician reads
 * "not found" or "no permission" instead of a capture program's own wording.
 */
export async function checkVideoDevice(device: string, what = 'Camera device'): Promise<void> {
  try {
    await access(device, constants.R_OK | constants.W_OK);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') {
      throw new SourceError(
        `${what} ${device} does not exist. Check that the USB camera is plugged in (ls /dev/video*, ` +
          'v4l2-ctl --list-devices) and that VEGKIOSK_CAMERA names the right device.',
        { cause: error },
      );
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new SourceError(
        `No permission to open ${device}. Add the service user to the "video" group ` +
          '(sudo usermod -aG video <user>) and restart the service.',
        { cause: error },
      );
    }
    throw new SourceError(`Cannot open ${what.toLowerCase()} ${device}: ${errorMessage(error)}`, { cause: error });
  }
}

/** /dev/videoN nodes in numeric order (video0, video1, … video10). */
export async function listVideoDevices(dir = '/dev'): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => /^video\d+$/.test(name))
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
    .map((name) => `${dir}/${name}`);
}

/** Drivers that register /dev/video nodes but are not cameras ffmpeg can read (Pi codec/ISP blocks). */
const NOT_A_CAMERA = /codec|isp|rpivid|pispbe|hevc|jpeg-enc|nvhost/i;

/**
 * /dev/video nodes worth probing for a camera: skips the Pi's codec and ISP nodes, which would
 * each cost a failed ffmpeg start, when sysfs says what driver is behind them.
 */
export async function listCameraCandidates(dir = '/dev', sysfs = '/sys/class/video4linux'): Promise<string[]> {
  const devices = await listVideoDevices(dir);
  const candidates: string[] = [];
  for (const device of devices) {
    const name = device.slice(device.lastIndexOf('/') + 1);
    let driverName = '';
    try {
      driverName = (await readFile(`${sysfs}/${name}/name`, 'utf8')).trim();
    } catch {
      // No sysfs entry (container, test dir): keep it; the probe decides.
    }
    if (!NOT_A_CAMERA.test(driverName)) candidates.push(device);
  }
  return candidates;
}
