import type { LatencyPercentiles } from './service-status.ts';

/** A fixed-size ring of recent samples: percentiles over the last `capacity` values, O(1) memory. */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private count = 0;
  private next = 0;

  constructor(capacity = 512) {
    this.samples = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count++;
  }

  percentiles(): LatencyPercentiles {
    if (this.count === 0) return { p50: 0, p90: 0, p99: 0 };
    const sorted = Array.from(this.samples.subarray(0, this.count)).sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
    return { p50: round2(at(0.5)), p90: round2(at(0.9)), p99: round2(at(0.99)) };
  }

  values(): number[] {
    return Array.from(this.samples.subarray(0, this.count));
  }
}

/** Events per second over a sliding time window. */
export class RateMeter {
  private readonly stamps: number[] = [];

  constructor(private readonly windowMs = 5000) {}

  tick(now: number): void {
    this.stamps.push(now);
    this.trim(now);
  }

  rate(now: number): number {
    this.trim(now);
    if (this.stamps.length < 2) return 0;
    const span = now - this.stamps[0];
    return span > 0 ? round2(((this.stamps.length - 1) * 1000) / span) : 0;
  }

  private trim(now: number): void {
    while (this.stamps.length && now - this.stamps[0] > this.windowMs) this.stamps.shift();
  }
}

/** Two decimals: enough for milliseconds and fps, and keeps JSON messages short. */
export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
