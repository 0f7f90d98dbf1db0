import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceHealth } from './frame-source.ts';
import { ReplaySource } from './replay-source.ts';
import type { SourceOptions } from './source-options.ts';

/** The photos shipped for the demo (models/demo-photos/README.md says where they come from). */
export const DEMO_PHOTOS_DIR = resolve(fileURLToPath(new URL('../../models/demo-photos', import.meta.url)));

/**
 * How long each demo photo stays on. Long enough to read the label from a step away and see it
 * belongs to the photo; short enough that all twelve come round in well under a minute.
 */
export const DEMO_HOLD_MS = 3000;

/** The name the demo goes by in the log, /healthz and the dashboard. */
export const DEMO_SOURCE_NAME = 'demo';

/**
 * The shipped demo photos, replayed in a loop, each held for DEMO_HOLD_MS at the camera's frame
 * rate. What `auto` falls back to without a camera, so a first start shows produce being recognised
 * rather than a test pattern. health() carries `demo: true` so no one mistakes it for a camera.
 */
export class DemoSource extends ReplaySource {
  private readonly dir: string;

  constructor(options: SourceOptions, dir: string = DEMO_PHOTOS_DIR) {
    super(dir, options, { holdMs: DEMO_HOLD_MS, sourceName: DEMO_SOURCE_NAME });
    this.dir = dir;
  }

  override health(): SourceHealth {
    return { ...super.health(), demo: true };
  }

  protected override stallHint(): string {
    return `The demo photos are read from ${this.dir}: check that the installation is complete (models/demo-photos).`;
  }
}
