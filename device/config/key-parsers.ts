// Parsers for keys whose values have a grammar of their own. Where a part of the service already
// reads the value (the camera its spec, inference its provider list), config uses that part's own
// parser and only turns its error into an InvalidValue, so the two can never disagree.
import { CAMERA_SPEC_FORMS, CameraSpecError, parseCameraSpec } from '../camera/camera-spec.ts';
import { parseProviderList, ProviderListError } from '../inference/provider-names.ts';
import { InvalidValue } from './config-key.ts';

/** A VEGKIOSK_CAMERA value the camera will accept, kept as written (the camera parses it again when it starts). */
export function cameraValue(s: string): string {
  try {
    parseCameraSpec(s);
  } catch (err) {
    if (!(err instanceof CameraSpecError)) throw err;
    // None of the forms at all: say which there are. A known form gone wrong: the camera says what.
    throw err.knownForm ? new InvalidValue(err.detail, { showValue: false }) : new InvalidValue('not a valid value', { expected: CAMERA_SPEC_FORMS });
  }
  return s;
}

export function providerList(s: string): string[] {
  try {
    return parseProviderList(s);
  } catch (err) {
    if (!(err instanceof ProviderListError)) throw err;
    throw new InvalidValue(err.message);
  }
}

/** Browser origins (scheme://host[:port]), comma-separated; empty: none besides the service's own. */
export function originList(s: string): string[] {
  const origins = s.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = origins.filter((o) => !/^https?:\/\/[^/\s]+$/.test(o));
  if (bad.length) throw new InvalidValue(`not an origin (scheme://host[:port], no path): ${bad.join(', ')}`, { showValue: false });
  return origins;
}

/** A signing key of at least 32 bytes, or empty (one is generated). */
export function signingKey(s: string): string {
  if (s && Buffer.byteLength(s, 'utf8') < 32) {
    throw new InvalidValue('too weak: must be at least 32 bytes (leave empty to have one generated)', { showValue: false });
  }
  return s;
}
