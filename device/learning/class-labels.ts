import { LearningError } from './learning-error.ts';

/** At most this many learned classes (refinements of model classes included) per kiosk. */
export const MAX_LEARNED_CLASSES = 200;
/** At most this many examples per class: five make a class; fifty cover a camera's light and angles. */
export const MAX_EXAMPLES_PER_CLASS = 50;

const LABEL = /^[A-Za-z0-9 _-]{1,40}$/;

/**
 * A label as typed, checked: 1–40 letters (ASCII), digits, spaces, `-` or `_`, not blank, no leading or
 * trailing space (it would make two labels that look alike). Returns it unchanged.
 */
export function checkLabel(label: unknown): string {
  if (typeof label !== 'string' || !LABEL.test(label) || label.trim() !== label || !/[A-Za-z0-9]/.test(label)) {
    throw new LearningError('bad_label',
      `label ${JSON.stringify(typeof label === 'string' ? label.slice(0, 60) : label)} is not allowed: use 1 to 40 letters, digits, ` +
        'spaces, "-" or "_" (no leading or trailing space)');
  }
  return label;
}

/** Labels are unique regardless of case: "kale" and "Kale" are one class. */
export function labelKey(label: string): string {
  return label.toLowerCase();
}
