import { IntegrationIdParam, TenantIdParam } from './params';
import { createValidationPipe } from './validation';

describe('path id parameters', () => {
  const pipe = createValidationPipe();

  it('passes valid ids through as a plain copy without class-validator', async () => {
    const value = { tenant: 't-1_A', integration: 'int_000' };
    const out = await pipe.transform(value, { type: 'param', metatype: IntegrationIdParam });
    expect(out).toEqual(value);
    expect(out).not.toBe(value);
    expect(await pipe.transform({ tenant: 'a'.repeat(64) }, { type: 'param', metatype: TenantIdParam })).toEqual({ tenant: 'a'.repeat(64) });
  });

  it.each([
    [{ tenant: 'bad id', integration: 'ok' }, [{ field: 'tenant', message: 'must match ^[A-Za-z0-9_-]{1,64}$' }]],
    [{ tenant: 'ok', integration: 'a'.repeat(65) }, [{ field: 'integration', message: 'must match ^[A-Za-z0-9_-]{1,64}$' }]],
    [{ tenant: 'ok', integration: 'ok', extra: 'x' }, [{ field: 'extra', message: 'is not a known field' }]],
  ])('rejects %j with the same problem as class-validator', async (value, errors) => {
    const error = await pipe.transform(value, { type: 'param', metatype: IntegrationIdParam }).catch((e: unknown) => e);
    expect((error as { problem: { status: number; errors: unknown[] } }).problem).toMatchObject({ status: 400, errors });
  });
});
