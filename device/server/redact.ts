import { redactUrlsIn } from '../camera/camera-spec.ts';
import type { SourceHealth } from '../camera/frame-source.ts';

/** Camera URLs often embed the camera's password: every URL in the text loses its credentials. */
export const stripUrlCredentials = redactUrlsIn;

/** Camera health as clients may see it: no credentials in the source string, the reason or error text. */
export function publicCameraHealth(camera: SourceHealth): SourceHealth {
  return {
    ...camera,
    source: stripUrlCredentials(camera.source),
    lastError: camera.lastError === null ? null : stripUrlCredentials(camera.lastError),
    ...(camera.reason === undefined ? {} : { reason: stripUrlCredentials(camera.reason) }),
  };
}
