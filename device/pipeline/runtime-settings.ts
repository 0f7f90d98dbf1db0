import { availableParallelism } from 'node:os';
import sharp from 'sharp';

/**
 * Thread budget shared by `serve` and `bench`, so the benchmark measures what the kiosk runs.
 * Inference gets every core but one (at least one); libvips decodes on one thread, because frames
 * are decoded one at a time and the overlap with inference, not intra-image parallelism, is what
 * keeps both stages busy on a 2- or 4-core board.
 */
export function inferenceThreads(configured: number): number {
  return configured > 0 ? configured : Math.max(1, availableParallelism() - 1);
}

export function configureImageDecoding(): void {
  sharp.concurrency(1);
  // Every frame is new: libvips' operation cache would only hold memory.
  sharp.cache(false);
}
