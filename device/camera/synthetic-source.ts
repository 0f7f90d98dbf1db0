import sharp from 'sharp';
import { paceFrames } from './frame-pacer.ts';
import type { SourceOptions } from './source-options.ts';
import type { Session, SessionHooks } from './supervised-source.ts';
import { SupervisedSource } from './supervised-source.ts';
import { TestPattern } from './test-pattern.ts';

export interface SyntheticSourceOptions extends SourceOptions {
  /**
   * 'jpeg' (default) delivers what real cameras deliver, so the decode path is exercised on a
   * development machine too; 'raw' skips the encode and delivers RGB pixels.
   */
  encoding?: 'jpeg' | 'raw';
  jpegQuality?: number;
}

/** A moving test pattern at the configured size and rate; needs no hardware, always works. */
export class SyntheticSource extends SupervisedSource {
  readonly kind = 'synthetic';
  private readonly encoding: 'jpeg' | 'raw';
  private readonly jpegQuality: number;

  constructor(options: SyntheticSourceOptions) {
    super('synthetic', options);
    this.encoding = options.encoding ?? 'jpeg';
    this.jpegQuality = options.jpegQuality ?? 80;
  }

  protected async open(hooks: SessionHooks): Promise<Session> {
    const pattern = new TestPattern(this.options.width, this.options.height);
    let n = 0;
    const pacer = paceFrames(this.options.fps, async () => {
      const raw = pattern.render(n++);
      if (this.encoding === 'raw') {
        hooks.frame({ raw });
        return;
      }
      const jpeg = await sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } })
        .jpeg({ quality: this.jpegQuality })
        .toBuffer();
      hooks.frame({ jpeg });
    }, hooks.fail);
    return { close: () => pacer.stop() };
  }

  protected stallHint(): string {
    return 'The test pattern is generated inside the service, so this means the service is overloaded: check CPU load (top).';
  }
}
