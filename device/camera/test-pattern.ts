import type { RawImage } from './frame-source.ts';

const BARS: ReadonlyArray<readonly [number, number, number]> = [
  [192, 192, 192], [192, 192, 0], [0, 192, 192], [0, 192, 0],
  [192, 0, 192], [192, 0, 0], [0, 0, 192], [16, 16, 16],
];

/**
 * Colour bars over a grey ramp, scrolling sideways, with a white square bouncing across: enough
 * motion that a frozen pipeline is visible on the dashboard, cheap enough for a Pi (each frame
 * is row copies of a precomputed base plus one small square).
 */
export class TestPattern {
  private readonly base: Buffer;
  private readonly stride: number;

  constructor(readonly width: number, readonly height: number) {
    this.stride = width * 3;
    this.base = Buffer.alloc(this.stride * height);
    const barsHeight = Math.floor((height * 2) / 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const at = y * this.stride + x * 3;
        if (y < barsHeight) {
          const bar = BARS[Math.min(BARS.length - 1, Math.floor((x * BARS.length) / width))];
          this.base[at] = bar[0];
          this.base[at + 1] = bar[1];
          this.base[at + 2] = bar[2];
        } else {
          const grey = Math.round((x * 255) / Math.max(1, width - 1));
          this.base.fill(grey, at, at + 3);
        }
      }
    }
  }

  /** Frame n of the animation (a full scroll takes 240 frames). */
  render(n: number): RawImage {
    const { width, height, stride } = this;
    const data = Buffer.allocUnsafe(stride * height);
    const shift = (Math.floor((n * width) / 240) % width) * 3;
    for (let row = 0; row < height * stride; row += stride) {
      this.base.copy(data, row, row + shift, row + stride);
      this.base.copy(data, row + stride - shift, row, row + shift);
    }
    const side = Math.max(2, Math.floor(Math.min(width, height) / 6));
    const travelX = Math.max(1, width - side);
    const travelY = Math.max(1, height - side);
    const px = (n * 7) % (2 * travelX);
    const py = (n * 5) % (2 * travelY);
    const left = px < travelX ? px : 2 * travelX - px;
    const top = py < travelY ? py : 2 * travelY - py;
    for (let y = top; y < Math.min(height, top + side); y++) {
      const start = y * stride + left * 3;
      data.fill(255, start, start + Math.min(side, width - left) * 3);
    }
    return { data, width, height, channels: 3 };
  }
}
