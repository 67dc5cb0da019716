import { IsInt, IsString, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { ProblemException } from './problem';
import { createValidationPipe } from './validation';

class Inner {
  @IsInt() n: number;
}

class Outer {
  @IsString() name: string;
  @ValidateNested({ each: true }) @Type(() => Inner) items: Inner[];
}

async function problemFor(value: unknown) {
  try {
    await createValidationPipe().transform(value, { type: 'body', metatype: Outer });
  } catch (error) {
    return (error as ProblemException).problem;
  }
  throw new Error('expected a validation problem');
}

describe('createValidationPipe', () => {
  it('answers a 400 problem whose errors[] names fields with bracketed paths', async () => {
    const problem = await problemFor({ name: 5, items: [{ n: 1 }, { n: 'x' }] });
    expect(problem.status).toBe(400);
    expect(problem.errors?.map((e) => e.field)).toEqual(expect.arrayContaining(['name', 'items[1].n']));
  });

  it('names unknown fields as unknown and never echoes submitted values', async () => {
    const problem = await problemFor({ name: 'ok', items: [], password: 'hunter2-secret' });
    expect(problem.errors).toContainEqual({ field: 'password', message: 'is not a known field' });
    expect(JSON.stringify(problem)).not.toContain('hunter2-secret');
  });
});
