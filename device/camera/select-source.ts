import type { Logger } from '../logger.ts';
import type { CameraSpec } from './camera-spec.ts';
import { CameraSpecError, parseCameraSpec, redactUrl } from './camera-spec.ts';
import type { Board, CsiSourceOptions } from './csi-source.ts';
import { CsiSource } from './csi-source.ts';
import { DEMO_HOLD_MS, DemoSource } from './demo-source.ts';
import { FfmpegSource } from './ffmpeg-source.ts';
import type { FrameSource } from './frame-source.ts';
import { ReplaySource } from './replay-source.ts';
import type { SourceOptions } from './source-options.ts';
import { SyntheticSource } from './synthetic-source.ts';
import { listCameraCandidates } from './video-device.ts';
import { WebcamSource } from './webcam-source.ts';

export interface CreateSourceOptions extends SourceOptions {
  /** The board the service runs on; null/undefined on anything else (an x86 development box). */
  board?: Board | null;
  /** auto: how long each candidate gets to deliver its first frame. */
  probeTimeoutMs?: number;
  /** auto: the /dev/video nodes to try, in order (default: the camera-like ones under /dev). */
  listVideoDevices?: () => Promise<string[]>;
  ffmpegPath?: string;
  fswebcamPath?: string;
  csi?: Pick<CsiSourceOptions, 'sensorId' | 'piCapture' | 'jpegQuality'>;
  syntheticEncoding?: 'jpeg' | 'raw';
  /** demo and auto: where the demo photos are (default: the shipped models/demo-photos). */
  demoPhotosDir?: string;
}

export interface SelectedSource {
  /** Not started yet: the caller calls start(). */
  source: FrameSource;
  /** Why this source, for the log and /healthz. */
  reason: string;
}

type ConcreteSpec = Exclude<CameraSpec, { kind: 'auto' }>;

/** Builds the source a parsed, non-auto spec names. */
export function buildFrameSource(spec: ConcreteSpec, opts: CreateSourceOptions): FrameSource {
  switch (spec.kind) {
    case 'synthetic':
      return new SyntheticSource({ ...opts, encoding: opts.syntheticEncoding });
    case 'demo':
      return new DemoSource(opts, opts.demoPhotosDir);
    case 'replay':
      return new ReplaySource(spec.path, opts);
    case 'webcam':
      return new WebcamSource(spec.device, { ...opts, fswebcamPath: opts.fswebcamPath });
    case 'v4l2':
      return new FfmpegSource({ kind: 'v4l2', device: spec.device }, opts);
    case 'rtsp':
      return new FfmpegSource({ kind: 'rtsp', url: spec.url }, opts);
    case 'csi':
      if (!opts.board) {
        throw new CameraSpecError(
          '"csi" needs a Jetson or a Raspberry Pi, and this machine is neither. ' +
            'Use auto, v4l2:/dev/videoN or synthetic here.',
        );
      }
      return new CsiSource(opts.board, { ...opts, ...opts.csi });
  }
}

/**
 * Turns VEGKIOSK_CAMERA into a frame source (not started). "auto" tries the cameras it can find
 * and falls back to the demo photos, then the synthetic pattern, so the service always has frames;
 * the reason says which was picked and why. Throws CameraSpecError for a malformed value.
 */
export async function createFrameSource(spec: string, opts: CreateSourceOptions): Promise<SelectedSource> {
  const parsed = parseCameraSpec(spec);
  const selected = parsed.kind === 'auto'
    ? await selectAutoSource(opts)
    : { source: buildFrameSource(parsed, opts), reason: `configured: VEGKIOSK_CAMERA=${redactUrl(spec.trim())}` };
  opts.logger?.info({ camera: selected.source.source, reason: selected.reason }, 'camera source selected');
  if (selected.source.health().demo) {
    // One line that a newcomer reading the console cannot miss: nothing here comes from a camera.
    opts.logger?.warn(
      { camera: selected.source.source },
      `DEMO: no camera in use; replaying the shipped demo photos (models/demo-photos), ${DEMO_HOLD_MS / 1000} s each. ` +
        'Connect a camera, or set VEGKIOSK_CAMERA (v4l2:/dev/videoN, csi, rtsp://…), to recognise real produce.',
    );
  }
  return selected;
}

/**
 * Starts a candidate and waits for its first frame. Returns null when it delivered, otherwise
 * why not. The candidate is always stopped again.
 */
export async function probeSource(source: FrameSource, timeoutMs: number): Promise<string | null> {
  let settle: (why: string | null) => void = () => {};
  const outcome = new Promise<string | null>((resolve) => {
    settle = resolve;
  });
  const onFrame = () => settle(null);
  const onState = (state: string) => {
    if (state === 'restarting' || state === 'failed') settle(source.health().lastError ?? state);
  };
  source.on('frame', onFrame);
  source.on('state', onState);
  const timer = setTimeout(() => settle(`no frame within ${timeoutMs} ms`), timeoutMs);
  try {
    await source.start();
    return await outcome;
  } finally {
    clearTimeout(timer);
    source.off('frame', onFrame);
    source.off('state', onState);
    await source.stop();
  }
}

function quiet(opts: CreateSourceOptions): CreateSourceOptions {
  // A probe that fails is expected; its warnings would read like a fault in the journal.
  const logger: Logger | undefined = opts.logger?.child({ probe: true }, { level: 'error' });
  return { ...opts, logger, backoff: { ...opts.backoff, initialMs: 60_000 } };
}

/**
 * auto: v4l2 cameras in /dev order, then CSI on a real Jetson or Pi, then the shipped demo photos,
 * else the synthetic pattern (the demo photos missing or unreadable).
 */
export async function selectAutoSource(opts: CreateSourceOptions): Promise<SelectedSource> {
  const probeTimeoutMs = opts.probeTimeoutMs ?? 8000;
  const tried: string[] = [];
  const devices = await (opts.listVideoDevices ?? (() => listCameraCandidates()))();
  for (const device of devices) {
    const why = await probeSource(buildFrameSource({ kind: 'v4l2', device }, quiet(opts)), probeTimeoutMs);
    if (why === null) {
      return {
        source: buildFrameSource({ kind: 'v4l2', device }, opts),
        reason: `auto: v4l2:${device} delivered frames (first working camera of ${devices.length} video device(s))`,
      };
    }
    tried.push(`v4l2:${device}: ${why}`);
  }
  if (devices.length === 0) tried.push('no /dev/video* devices');

  if (opts.board) {
    const why = await probeSource(buildFrameSource({ kind: 'csi' }, quiet(opts)), probeTimeoutMs);
    if (why === null) {
      return { source: buildFrameSource({ kind: 'csi' }, opts), reason: `auto: CSI camera on ${opts.board} delivered frames` };
    }
    tried.push(`csi (${opts.board}): ${why}`);
  } else {
    tried.push('csi skipped: not a Jetson or Raspberry Pi');
  }

  const noCamera = `auto: no camera delivered frames (${tried.join('; ')})`;
  const demoProblem = await probeSource(buildFrameSource({ kind: 'demo' }, quiet(opts)), probeTimeoutMs);
  if (demoProblem === null) {
    return { source: buildFrameSource({ kind: 'demo' }, opts), reason: `${noCamera}; replaying the demo photos` };
  }
  return {
    source: buildFrameSource({ kind: 'synthetic' }, opts),
    reason: `${noCamera}; demo photos unusable (${demoProblem}); using the synthetic test pattern`,
  };
}
