import { redactUrlsIn } from '../camera/camera-spec.ts';
import type { SourceHealth } from '../camera/frame-source.ts';

/** Camera health as clients may see it: no credentials in the source string, the reason or error text. */
export function publicCameraHealth(camera: SourceHealth): SourceHealth {
  return {
    ...camera,
    source: redactUrlsIn(camera.source),
    lastError: camera.lastError === null ? null : redactUrlsIn(camera.lastError),
    ...(camera.reason === undefined ? {} : { reason: redactUrlsIn(camera.reason) }),
  };
}
