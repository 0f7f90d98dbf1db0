import type { ProcessCommand, ProcessExit } from './mjpeg-process.ts';
import { describeExitStatus, maxJpegFrameBytes, startMjpegProcess } from './mjpeg-process.ts';
import { SourceError } from './source-error.ts';
import type { SourceOptions } from './source-options.ts';
import type { Session, SessionHooks } from './supervised-source.ts';
import { SupervisedSource } from './supervised-source.ts';

export type Board = 'jetson' | 'pi';

export interface CsiCommandOptions {
  width: number;
  height: number;
  fps: number;
  /** Which CSI connector (Jetson sensor-id, Pi --camera). */
  sensorId?: number;
  /** Pi capture program: rpicam-vid (default; Bookworm) or GStreamer's libcamerasrc. */
  piCapture?: 'rpicam-vid' | 'libcamerasrc';
  jpegQuality?: number;
}

export interface CsiSourceOptions extends SourceOptions {
  sensorId?: number;
  piCapture?: 'rpicam-vid' | 'libcamerasrc';
  jpegQuality?: number;
}

/**
 * The capture command for a CSI camera, writing concatenated JPEGs to stdout. gst-launch gets
 * each pipeline token as its own argv entry (no shell), and -q so its status lines do not land
 * in the JPEG stream on stdout; it is stopped with SIGINT, which with -e ends the pipeline with
 * EOS and lets nvargus-daemon release the sensor.
 */
export function buildCsiCommand(board: Board, o: CsiCommandOptions): ProcessCommand {
  const sensor = o.sensorId ?? 0;
  const quality = o.jpegQuality ?? 85;
  const rate = `${o.fps}/1`;
  if (board === 'jetson') {
    return {
      command: 'gst-launch-1.0',
      args: [
        '-q', '-e',
        'nvarguscamerasrc', `sensor-id=${sensor}`,
        '!', `video/x-raw(memory:NVMM),width=${o.width},height=${o.height},framerate=${rate}`,
        '!', 'nvvidconv',
        '!', 'video/x-raw,format=I420',
        '!', 'jpegenc', `quality=${quality}`,
        '!', 'fdsink', 'fd=1',
      ],
      stopSignal: 'SIGINT',
    };
  }
  if (o.piCapture === 'libcamerasrc') {
    return {
      command: 'gst-launch-1.0',
      args: [
        '-q', '-e',
        'libcamerasrc',
        '!', `video/x-raw,width=${o.width},height=${o.height},framerate=${rate}`,
        '!', 'videoconvert',
        '!', 'jpegenc', `quality=${quality}`,
        '!', 'fdsink', 'fd=1',
      ],
      stopSignal: 'SIGINT',
    };
  }
  return {
    command: 'rpicam-vid',
    args: [
      '--camera', String(sensor),
      '-t', '0', '-n',
      '--codec', 'mjpeg',
      '--width', String(o.width), '--height', String(o.height),
      '--framerate', String(o.fps),
      '--flush',
      '-o', '-',
    ],
  };
}

const INSTALL_HINT: Record<string, string> = {
  'gst-launch-1.0': 'sudo apt install gstreamer1.0-tools (JetPack ships it; on a Pi also gstreamer1.0-libcamera)',
  'rpicam-vid': 'sudo apt install rpicam-apps',
};

/** A ribbon-cable camera: Jetson through nvarguscamerasrc, Raspberry Pi through rpicam-vid or libcamerasrc. */
export class CsiSource extends SupervisedSource {
  readonly kind = 'csi';
  readonly board: Board;
  private readonly command: ProcessCommand;

  constructor(board: Board, options: CsiSourceOptions) {
    super('csi', options);
    this.board = board;
    const { width, height, fps } = this.options;
    this.command = buildCsiCommand(board, {
      width, height, fps, sensorId: options.sensorId, piCapture: options.piCapture, jpegQuality: options.jpegQuality,
    });
  }

  /** What this source runs, for `vegkiosk doctor` and tests. */
  commandLine(): ProcessCommand {
    return { ...this.command, args: [...this.command.args] };
  }

  protected async open(hooks: SessionHooks): Promise<Session> {
    const { width, height } = this.options;
    return startMjpegProcess(this.command, hooks, {
      spawn: this.options.spawn,
      maxFrameBytes: maxJpegFrameBytes(width, height),
      describeExit: (exit) => this.describeExit(exit),
      describeSpawnError: (error) =>
        new SourceError(
          error.code === 'ENOENT'
            ? `${this.command.command} is not installed: ${INSTALL_HINT[this.command.command] ?? 'install it'}.`
            : `${this.command.command} could not be started for the CSI camera: ${error.message}`,
          { permanent: error.code === 'ENOENT', cause: error },
        ),
    });
  }

  protected stallHint(): string {
    if (this.board === 'jetson') {
      return 'Check the CSI ribbon cable and sensor-id, then restart the Argus daemon (sudo systemctl restart nvargus-daemon).';
    }
    return 'Check the CSI ribbon cable (contacts facing the right way), that rpicam-hello --list-cameras lists the camera, ' +
      'and that no other program is using it.';
  }

  private describeExit(exit: ProcessExit): SourceError {
    return new SourceError(
      `${this.command.command} (CSI camera on ${this.board === 'jetson' ? 'Jetson' : 'Raspberry Pi'}) ` +
        `${describeExitStatus(exit)}${exit.stderr ? `: ${exit.stderr}` : ''}. ${this.stallHint()}`,
    );
  }
}
