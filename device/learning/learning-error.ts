/** Why a learn or forget request was refused; `status` is the HTTP status the API answers with. */
export type LearningErrorCode =
  | 'bad_label' | 'too_many_classes' | 'too_many_examples' | 'no_usable_crop'
  | 'model_class' | 'unknown_class' | 'learning_unsupported';

const STATUS: Record<LearningErrorCode, number> = {
  bad_label: 400,
  too_many_classes: 409,
  too_many_examples: 409,
  no_usable_crop: 422,
  model_class: 409,
  unknown_class: 404,
  learning_unsupported: 409,
};

/** A refusal a technician can act on: the message says what was wrong and what to do. */
export class LearningError extends Error {
  override readonly name = 'LearningError';
  readonly status: number;

  constructor(readonly code: LearningErrorCode, message: string) {
    super(message);
    this.status = STATUS[code];
  }
}
