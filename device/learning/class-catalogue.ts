import { checkLabel, labelKey } from './class-labels.ts';
import { LearningError } from './learning-error.ts';
import type { LearnedData, LearnedStore } from './learned-store.ts';

/** A row of `GET /api/classes` and `vegkiosk learn --list`. */
export interface ClassInfo {
  label: string;
  source: 'model' | 'learned';
  examples: number;
}

export interface LearnResult {
  label: string;
  examples: number;
}

/** The model's classes (with the examples refining them) and then the learned ones. */
export function classList(data: LearnedData, modelLabels: readonly string[]): ClassInfo[] {
  const stored = new Map(data.classes.map((c) => [labelKey(c.label), c]));
  const modelKeys = new Set(modelLabels.map(labelKey));
  return [
    ...modelLabels.map((label) => ({ label, source: 'model' as const, examples: stored.get(labelKey(label))?.examples.length ?? 0 })),
    ...data.classes.filter((c) => !modelKeys.has(labelKey(c.label)))
      .map((c) => ({ label: c.label, source: 'learned' as const, examples: c.examples.length })),
  ];
}

/**
 * Forgets a learned class, or the examples refining a model class (the model's own row is then used
 * again): the index first, then the files, so a kill in between leaves only orphan files.
 */
export function forgetClass(store: LearnedStore, modelLabels: readonly string[], label: string): LearnResult {
  checkLabel(label);
  const key = labelKey(label);
  const modelLabel = modelLabels.find((l) => labelKey(l) === key);
  const removed = store.index.update((d) => {
    const i = d.classes.findIndex((c) => labelKey(c.label) === key);
    if (i < 0) {
      if (modelLabel) throw new LearningError('model_class', `"${modelLabel}" is one of the model's own classes; it cannot be forgotten (only examples taught on this kiosk can)`);
      throw new LearningError('unknown_class', `no learned class named "${label}"`);
    }
    return d.classes.splice(i, 1)[0]!;
  });
  for (const e of removed.examples) store.removeExample(e.id);
  return { label: removed.label, examples: removed.examples.length };
}
