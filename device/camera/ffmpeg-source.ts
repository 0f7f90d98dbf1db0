import { redactUrl } from './camera-spec.ts';
import type { ProcessExit } from './mjpeg-process.ts';
import { describeExitStatus, maxJpegFrameBytes, startMjpegProcess } from './mjpeg-process.ts';
import { SourceError } from './source-error.ts';
import type { SourceOptions } from './source-options.ts';
import type { Session, SessionHooks } from './supervised-source.ts';
import { SupervisedSource } from './supervised-source.ts';
import { checkVideoDevice } from './video-device.ts';

export type FfmpegTarget = { kind: 'v4l2'; device: string } | { kind: 'rtsp'; url: string };

export interface FfmpegArgsOptions {
  width: number;
  height: number;
  fps: number;
  /** Replaces the input part (everything before the output options), e.g. a lavfi test source. */
  inputArgs?: readonly string[];
  /** ffmpeg -q:v, 2 (best) … 31. */
  quality?: number;
}

export interface FfmpegSourceOptions extends SourceOptions {
  ffmpegPath?: string;
  inputArgs?: readonly string[];
  quality?: number;
}

function inputFor(target: FfmpegTarget, o: FfmpegArgsOptions): string[] {
  if (target.kind === 'v4l2') {
    // USB cameras only reach 720p at useful rates in MJPEG; raw YUYV over USB 2 tops out near 10 fps.
    return [
      '-f', 'v4l2', '-input_format', 'mjpeg',
      '-video_size', `${o.width}x${o.height}`, '-framerate', String(o.fps),
      '-i', target.device,
    ];
  }
  // TCP: UDP through kiosk Wi-Fi loses packets and shows up as smeared frames.
  return ['-rtsp_transport', 'tcp', '-fflags', 'nobuffer', '-i', target.url];
}

/**
 * The ffmpeg argv (without the program name) that reads the camera and writes concatenated
 * JPEGs at exactly width x height, at most fps a second, to stdout. Re-encoding instead of
 * copying the camera's MJPEG costs some CPU but guarantees the size and a Huffman table in every
 * frame (many UVC cameras omit it, and decoders then refuse the frame).
 */
export function buildFfmpegArgs(target: FfmpegTarget, o: FfmpegArgsOptions): string[] {
  const input = o.inputArgs ? [...o.inputArgs] : inputFor(target, o);
  return [
    '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error',
    ...input,
    '-an',
    '-vf', `fps=${o.fps},scale=${o.width}:${o.height}`,
    '-c:v', 'mjpeg', '-q:v', String(o.quality ?? 4),
    '-f', 'mjpeg', '-flush_packets', '1',
    'pipe:1',
  ];
}

/** v4l2:/dev/videoN and rtsp://… through one long-running ffmpeg process. */
export class FfmpegSource extends SupervisedSource {
  readonly kind: 'v4l2' | 'rtsp';
  private readonly target: FfmpegTarget;
  private readonly ffmpegPath: string;
  private readonly inputArgs: readonly string[] | undefined;
  private readonly quality: number | undefined;

  constructor(target: FfmpegTarget, options: FfmpegSourceOptions) {
    super(target.kind === 'v4l2' ? `v4l2:${target.device}` : redactUrl(target.url), options);
    this.kind = target.kind;
    this.target = target;
    this.ffmpegPath = options.ffmpegPath ?? 'ffmpeg';
    this.inputArgs = options.inputArgs;
    this.quality = options.quality;
  }

  /** The argv this source runs ffmpeg with. */
  args(): string[] {
    const { width, height, fps } = this.options;
    return buildFfmpegArgs(this.target, { width, height, fps, inputArgs: this.inputArgs, quality: this.quality });
  }

  protected async open(hooks: SessionHooks): Promise<Session> {
    // With an input override ffmpeg does not open the device, so there is nothing to check.
    if (this.target.kind === 'v4l2' && !this.inputArgs) await checkVideoDevice(this.target.device);
    const { width, height } = this.options;
    return startMjpegProcess({ command: this.ffmpegPath, args: this.args() }, hooks, {
      spawn: this.options.spawn,
      maxFrameBytes: maxJpegFrameBytes(width, height),
      describeExit: (exit) => this.describeExit(exit),
      describeSpawnError: (error) =>
        new SourceError(
          error.code === 'ENOENT'
            ? `ffmpeg is not installed (no "${this.ffmpegPath}" on PATH): sudo apt install ffmpeg.`
            : `ffmpeg could not be started for ${this.source}: ${error.message}`,
          { permanent: error.code === 'ENOENT', cause: error },
        ),
    });
  }

  protected stallHint(): string {
    return this.hint();
  }

  private hint(): string {
    if (this.target.kind === 'v4l2') {
      const dev = this.target.device;
      return `Check that the camera on ${dev} is plugged in, offers MJPEG at ${this.options.width}x${this.options.height} ` +
        `(v4l2-ctl -d ${dev} --list-formats-ext) and is not used by another program (fuser ${dev}).`;
    }
    return 'Check that the camera is powered and reachable on the network, and the stream URL, user and password.';
  }

  private describeExit(exit: ProcessExit): SourceError {
    let said = exit.stderr;
    if (this.target.kind === 'rtsp') {
      said = said.split(this.target.url).join(this.source);
      const password = /^[a-z][a-z0-9+.-]*:\/\/[^:@/]*:([^@/]+)@/i.exec(this.target.url)?.[1];
      if (password) said = said.split(password).join('***');
    }
    const what = this.target.kind === 'v4l2' ? this.target.device : this.source;
    return new SourceError(
      `ffmpeg reading ${what} ${describeExitStatus(exit)}${said ? `: ${said}` : ''}. ${this.hint()}`,
    );
  }
}
