// Turns the stream of per-frame results into item events: one `recognised` when an item has been seen
// for a few frames in a row, one `cleared` when it has been gone (or replaced) for as many. A label
// flickering for a frame or two, as they do at a threshold, makes no event at all.

export interface ItemEvent {
  type: 'recognised' | 'cleared';
  label: string;
  /** recognised: the best score over the frames that confirmed it; cleared: the best while it was there. */
  score: number;
  /** Epoch ms of the frame that settled it. */
  at: number;
}

/** What the debouncer reads from a result. */
export interface LabelledFrame {
  label: string | null;
  score: number;
  capturedAt: number;
}

/** Frames in a row that make a change count; at 15 fps, 3 frames is 0.2 s. */
export const DEFAULT_SETTLE_FRAMES = 3;

export class EventDebouncer {
  private current: { label: string; best: number } | null = null;
  private candidate: string | null = null;
  private candidateFrames = 0;
  private candidateBest = 0;

  constructor(private readonly settleFrames = DEFAULT_SETTLE_FRAMES) {}

  /** The events this frame settles (none, one, or a cleared followed by a recognised). */
  observe(frame: LabelledFrame): ItemEvent[] {
    const label = frame.label || null;
    if (label !== null && this.current?.label === label) {
      this.current.best = Math.max(this.current.best, frame.score);
    }
    if (label === (this.current?.label ?? null)) {
      this.candidateFrames = 0;
      return [];
    }
    if (label !== this.candidate || this.candidateFrames === 0) {
      this.candidate = label;
      this.candidateFrames = 0;
      this.candidateBest = 0;
    }
    this.candidateFrames += 1;
    this.candidateBest = Math.max(this.candidateBest, frame.score);
    if (this.candidateFrames < this.settleFrames) return [];

    const events: ItemEvent[] = [];
    if (this.current) events.push({ type: 'cleared', label: this.current.label, score: this.current.best, at: frame.capturedAt });
    this.current = label === null ? null : { label, best: this.candidateBest };
    if (label !== null) events.push({ type: 'recognised', label, score: this.candidateBest, at: frame.capturedAt });
    this.candidateFrames = 0;
    return events;
  }

  /** The item recognised now, if any. */
  get recognised(): string | null {
    return this.current?.label ?? null;
  }
}
