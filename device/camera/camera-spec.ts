/** A parsed VEGKIOSK_CAMERA value. */
export type CameraSpec =
  | { kind: 'auto' }
  | { kind: 'synthetic' }
  | { kind: 'csi' }
  | { kind: 'replay'; path: string }
  | { kind: 'webcam'; device: string }
  | { kind: 'v4l2'; device: string }
  | { kind: 'rtsp'; url: string };

export const CAMERA_SPEC_FORMS =
  'auto | synthetic | csi | replay:<file-or-dir> | webcam:/dev/videoN | v4l2:/dev/videoN | rtsp://host/path';

export class CameraSpecError extends Error {
  constructor(
    /** What is wrong with the value, without the key: `"v4l2:x" is not valid: …`. */
    readonly detail: string,
  ) {
    super(`VEGKIOSK_CAMERA=${detail}`);
    this.name = 'CameraSpecError';
  }
}

/** rtsp://user:secret@cam/… → rtsp://user:***@cam/…, for health(), logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
}

function bad(spec: string, why: string): CameraSpecError {
  return new CameraSpecError(`"${redactUrl(spec)}" is not valid: ${why}. Use one of: ${CAMERA_SPEC_FORMS}`);
}

function videoDevice(spec: string, device: string, prefix: string): string {
  if (!/^\/dev\/video\d+$/.test(device) && !/^\/dev\/v4l\/by-(id|path)\/[^\s]+$/.test(device)) {
    throw bad(spec, `${prefix}: needs a device node such as /dev/video0 or /dev/v4l/by-id/…`);
  }
  return device;
}

/** Parses VEGKIOSK_CAMERA; throws CameraSpecError naming the key and the accepted forms. */
export function parseCameraSpec(spec: string): CameraSpec {
  const value = spec.trim();
  if (value === '') throw bad(spec, 'it is empty');
  if (/[\0\r\n]/.test(value)) throw bad(spec, 'it contains control characters');
  if (value === 'auto' || value === 'synthetic' || value === 'csi') return { kind: value };
  if (/^rtsps?:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw bad(spec, 'the RTSP URL cannot be parsed');
    }
    if (!url.hostname) throw bad(spec, 'the RTSP URL has no host');
    return { kind: 'rtsp', url: value };
  }
  const colon = value.indexOf(':');
  const prefix = colon === -1 ? value : value.slice(0, colon);
  const rest = colon === -1 ? '' : value.slice(colon + 1);
  switch (prefix) {
    case 'replay':
      if (!rest) throw bad(spec, 'replay: needs a file or directory, e.g. replay:/var/lib/vegkiosk/samples');
      return { kind: 'replay', path: rest };
    case 'v4l2':
      return { kind: 'v4l2', device: videoDevice(spec, rest, 'v4l2') };
    case 'webcam':
      // fswebcam also accepts its pseudo devices TEST and FILE:<image>, handy on a bench.
      if (rest === 'TEST' || (rest.startsWith('FILE:') && rest.length > 'FILE:'.length)) {
        return { kind: 'webcam', device: rest };
      }
      return { kind: 'webcam', device: videoDevice(spec, rest, 'webcam') };
    default:
      throw bad(spec, `unknown camera source "${prefix}"`);
  }
}
