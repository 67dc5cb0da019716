import { ValidationPipe, type ArgumentMetadata, type ValidationError, type ValidationPipeOptions } from '@nestjs/common';
import { fastQuery } from './fast-query';
import { fastIdParams } from './params';
import { Problems, type FieldError } from './problem';

/** Flattens class-validator's tree into `errors[]` with dotted/bracketed field paths; values are never echoed. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = parent === '' ? error.property : /^\d+$/.test(error.property) ? `${parent}[${error.property}]` : `${parent}.${error.property}`;
    for (const [constraint, message] of Object.entries(error.constraints ?? {})) {
      out.push({ field, message: constraint === 'whitelistValidation' ? 'is not a known field' : message.replace(/^property \S+ /, '') });
    }
    if (error.children?.length) out.push(...flattenValidationErrors(error.children, field));
  }
  return out;
}

/** The global pipe; valid tenant/integration path ids and list queries skip class-validator (params.ts, fast-query.ts). */
class AppValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'param') {
      const fast = fastIdParams(metadata.metatype, value);
      if (fast) return fast;
    } else if (metadata.type === 'query') {
      const fast = fastQuery(metadata.metatype, value);
      if (fast) return fast;
    }
    return super.transform(value, metadata);
  }
}

/** The options of the global pipe: whitelisted, transformed, and every error a 400 problem. */
export const VALIDATION_OPTIONS: ValidationPipeOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  forbidUnknownValues: true,
  validationError: { target: false, value: false },
  exceptionFactory: (errors) => Problems.validation(flattenValidationErrors(errors)),
};

export function createValidationPipe(): ValidationPipe {
  return new AppValidationPipe(VALIDATION_OPTIONS);
}
