import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import NodeWebcam from 'node-webcam';
import { paceFrames } from './frame-pacer.ts';
import { errnoCode, errorMessage } from '../supervision/error-message.ts';
import { SourceError } from './source-error.ts';
import type { SourceOptions } from './source-options.ts';
import type { Session, SessionHooks } from './supervised-source.ts';
import { SupervisedSource } from './supervised-source.ts';
import { checkVideoDevice } from './video-device.ts';

export interface WebcamSourceOptions extends SourceOptions {
  /** fswebcam program name or path. */
  fswebcamPath?: string;
  /** A still that takes longer is abandoned and its fswebcam killed. Default max(5 s, stallMs). */
  captureTimeoutMs?: number;
  jpegQuality?: number;
}

/** node-webcam builds a shell command line by pasting strings together; quote what we pass. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').replace(/\s+/g, ' ').trim();
}

async function tmpfsDir(): Promise<string> {
  // Stills are written and read back many times a second: keep them off the SD card.
  try {
    await access('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/**
 * A USB webcam through node-webcam, which runs fswebcam once per still. Stills are written to a
 * tmpfs file and read back, because node-webcam's in-memory/base64 path is broken. fswebcam's
 * pseudo devices work too: webcam:TEST (test pattern) and webcam:FILE:/path/img.jpg.
 *
 * node-webcam runs fswebcam through exec() and hides the child, so it cannot be killed from here;
 * timeout(1) in front of fswebcam bounds every still instead, and stop() waits for the one in
 * flight (at most captureTimeoutMs + 1 s).
 */
export class WebcamSource extends SupervisedSource {
  readonly kind = 'webcam';
  private readonly device: string;
  private readonly fswebcamPath: string;
  private readonly captureTimeoutMs: number;
  private readonly jpegQuality: number;

  constructor(device: string, options: WebcamSourceOptions) {
    const captureTimeoutMs = options.captureTimeoutMs ?? Math.max(5000, options.stallMs);
    // Each still is bounded by the capture timeout; a stall shorter than that would restart a
    // webcam that is merely slow to open (fswebcam reopens the device for every still).
    const stallMs = Math.max(options.stallMs, captureTimeoutMs + 2000);
    super(`webcam:${device}`, { ...options, stallMs, startTimeoutMs: Math.max(options.startTimeoutMs ?? 0, stallMs) });
    if (device.length === 0 || /[\0\n\r]/.test(device)) {
      throw new SourceError(`webcam device "${device}" is not a valid device name`);
    }
    this.device = device;
    this.fswebcamPath = options.fswebcamPath ?? 'fswebcam';
    this.captureTimeoutMs = captureTimeoutMs;
    this.jpegQuality = options.jpegQuality ?? 85;
  }

  protected async open(hooks: SessionHooks): Promise<Session> {
    await this.checkDevice();
    const dir = await mkdtemp(join(await tmpfsDir(), 'vegkiosk-webcam-'));
    const file = join(dir, 'still.jpg');
    const webcam = NodeWebcam.create({
      width: this.options.width,
      height: this.options.height,
      quality: this.jpegQuality,
      output: 'jpeg',
      device: shellQuote(this.device),
      callbackReturn: 'location',
      // node-webcam would otherwise keep every shot in an array for the life of the process.
      saveShots: false,
      verbose: false,
      delay: 0,
    });
    const timeoutS = Math.ceil(this.captureTimeoutMs / 1000);
    webcam.bin = `timeout -k 1 ${timeoutS} ${shellQuote(this.fswebcamPath)}`;
    let stderr = '';
    webcam.on('capture', (event) => {
      stderr = stripAnsi(String(event.shot.data ?? ''));
    });

    const pacer = paceFrames(this.options.fps, async () => {
      stderr = '';
      // A failed still leaves no file; never hand out the previous one again.
      await rm(file, { force: true });
      await new Promise<void>((resolve, reject) => {
        webcam.capture(shellQuote(file), (error) => (error ? reject(this.describeCaptureError(error)) : resolve()));
      });
      let jpeg: Buffer;
      try {
        jpeg = await readFile(file);
      } catch (error) {
        throw new SourceError(
          `fswebcam ran but wrote no image for ${this.device}${stderr ? ` (it said: ${stderr})` : ''}. ` +
            'Check that the camera works (fswebcam -d <device> test.jpg) and supports the configured size.',
          { cause: error },
        );
      }
      if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) {
        throw new SourceError(`fswebcam wrote something that is not a JPEG for ${this.device}.`);
      }
      hooks.frame({ jpeg });
    }, hooks.fail);

    return {
      close: async () => {
        await pacer.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }

  protected stallHint(): string {
    return `Check the USB cable of ${this.device} and that no other program holds the camera (fuser ${this.device}).`;
  }

  private async checkDevice(): Promise<void> {
    if (this.device === 'TEST') return;
    if (this.device.startsWith('FILE:')) {
      const path = this.device.slice('FILE:'.length);
      try {
        await access(path, constants.R_OK);
      } catch (error) {
        throw new SourceError(`fswebcam input file ${path} cannot be read (${errnoCode(error) ?? errorMessage(error)}).`, {
          cause: error,
        });
      }
      return;
    }
    await checkVideoDevice(this.device, 'USB webcam');
  }

  private describeCaptureError(error: Error): SourceError {
    const code = (error as Error & { code?: unknown }).code;
    const said = stripAnsi(error.message.replace(/^Command failed:[^\n]*\n?/, '')).slice(0, 300);
    if (code === 124 || code === 137) {
      return new SourceError(
        `fswebcam did not finish a still from ${this.device} within ${this.captureTimeoutMs} ms and was killed. ` +
          'Check the USB cable and power of the camera; try a lower resolution.',
        { cause: error },
      );
    }
    if (code === 127) {
      return new SourceError('fswebcam is not installed (or timeout(1) is missing): sudo apt install fswebcam.', {
        permanent: true,
        cause: error,
      });
    }
    return new SourceError(
      `fswebcam could not capture from ${this.device}${said ? `: ${said}` : ''}. ` +
        'Check the camera is plugged in and not used by another program.',
      { cause: error },
    );
  }
}
