/** A parsed VEGKIOSK_CAMERA value. */
export type CameraSpec =
  | { kind: 'auto' }
  | { kind: 'synthetic' }
  | { kind: 'demo' }
  | { kind: 'csi' }
  | { kind: 'replay'; path: string }
  | { kind: 'webcam'; device: string }
  | { kind: 'v4l2'; device: string }
  | { kind: 'rtsp'; url: string };

export const CAMERA_SPEC_FORMS =
  'auto | synthetic | demo | csi | replay:<file-or-dir> | webcam:/dev/videoN | v4l2:/dev/videoN | rtsp://host/path';

export class CameraSpecError extends Error {
  constructor(
    /** What is wrong with the value, without the key: `"v4l2:x" is not valid: …`. */
    readonly detail: string,
    /** False when the value has none of the forms at all (empty, `floppy:…`), true when one of them is malformed. */
    readonly knownForm = true,
  ) {
    super(`VEGKIOSK_CAMERA=${detail}`);
    this.name = 'CameraSpecError';
  }
}

/** Query parameters that cheap IP cameras use for credentials (`?user=admin&password=…`, `?token=…`). */
const CREDENTIAL_QUERY = /^(user(name)?|pass(word)?|pwd|passwd|token|key|auth|secret|sig(nature)?|credentials?)$/i;

/**
 * A camera URL as it may be shown (health, logs, error messages): rtsp://user:secret@cam/… →
 * rtsp://user:***@cam/…, a userinfo without a password (often a token) → ***, credential-like query
 * values → ***. The userinfo ends at the last "@" before the path, as URL parsers read it, so an "@"
 * inside a password does not leave its tail visible.
 */
export function redactUrl(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (!scheme) return url;
  const rest = url.slice(scheme[0].length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  let tail = authorityEnd === -1 ? '' : rest.slice(authorityEnd);
  const at = authority.lastIndexOf('@');
  let shown = authority;
  if (at !== -1) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    shown = `${colon === -1 ? '***' : `${userinfo.slice(0, colon)}:***`}@${authority.slice(at + 1)}`;
  }
  tail = tail.replace(/([?&;])([^=&;#]+)=([^&;#]*)/g, (whole, sep: string, name: string) =>
    (CREDENTIAL_QUERY.test(name) ? `${sep}${name}=***` : whole));
  return `${scheme[0]}${shown}${tail}`;
}

/** Every URL inside a free text (an ffmpeg error line, a health reason) passed through redactUrl. */
export function redactUrlsIn(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, (url) => redactUrl(url));
}

function bad(spec: string, why: string, knownForm = true): CameraSpecError {
  return new CameraSpecError(`"${redactUrl(spec)}" is not valid: ${why}. Use one of: ${CAMERA_SPEC_FORMS}`, knownForm);
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
  if (value === '') throw bad(spec, 'it is empty', false);
  if (/[\0\r\n]/.test(value)) throw bad(spec, 'it contains control characters');
  if (value === 'auto' || value === 'synthetic' || value === 'demo' || value === 'csi') return { kind: value };
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
      throw bad(spec, `unknown camera source "${prefix}"`, false);
  }
}
