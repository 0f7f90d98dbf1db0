import type { Config } from '../config/config.ts';
import type { Logger } from '../logger.ts';
import type { Prediction } from '../inference/model.ts';
import type { LearnedClasses } from '../learning/learned-classes.ts';
import type { ResultBus } from '../pipeline/result-bus.ts';
import type { ServiceStatus } from '../pipeline/service-status.ts';

/** What the HTTP/WebSocket server needs from the rest of the service (wired in `vegkiosk serve`). */
export interface ServerDeps {
  config: Config;
  logger: Logger;
  /** Live pipeline results; the server publishes them on /ws. */
  bus: ResultBus;
  /** Current health of camera, model and pipeline (for /healthz, /api/status, ws status messages). */
  status(): ServiceStatus;
  /** Classify an uploaded image with the same model as the camera (POST /api/classify). */
  classify(image: Buffer): Promise<Prediction>;
  /** The newest camera frame as JPEG, or null before the first frame. */
  latestFrameJpeg(): Buffer | null;
  /** The classes taught on this kiosk (/api/classes); absent where learning is not wired (some tests). */
  learning?: ClassTeacher;
}

/** What /api/classes needs of the learned classes. */
export type ClassTeacher = Pick<LearnedClasses, 'supported' | 'list' | 'examples' | 'exampleCrop' | 'learn' | 'forget'>;

export interface RunningServer {
  /** e.g. https://127.0.0.1:8443 */
  url: string;
  port: number;
  /** The /api/status JSON as the route gives it now (the fleet publisher publishes it as `status`). */
  apiStatus(): Record<string, unknown>;
  /** Stops accepting, closes WebSockets with 1001, flushes storage. */
  close(): Promise<void>;
}
