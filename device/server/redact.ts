import type { SourceHealth } from '../camera/frame-source.ts';

/** rtsp://user:pass@cam/… → rtsp://***@cam/… — camera URLs often embed the camera's password. */
export function stripUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi, '$1***@');
}

/** Camera health as clients may see it: no credentials in the source string or error text. */
export function publicCameraHealth(camera: SourceHealth): SourceHealth {
  return {
    ...camera,
    source: stripUrlCredentials(camera.source),
    lastError: camera.lastError === null ? null : stripUrlCredentials(camera.lastError),
  };
}
