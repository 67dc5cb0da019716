import { ValidationPipe } from '@nestjs/common';
import { ListIntegrationsQueryDto } from '../../integrations/dto/integration.dto';
import { fastQuery } from './fast-query';
import { createValidationPipe, VALIDATION_OPTIONS } from './validation';

describe('list queries on the fast path', () => {
  const pipe = createValidationPipe();
  // The same options without the fast path: the reference every answer must equal.
  const reference = new ValidationPipe(VALIDATION_OPTIONS);
  const metadata = { type: 'query' as const, metatype: ListIntegrationsQueryDto };
  const outcome = async (p: ValidationPipe, value: unknown) => {
    try {
      const out = await p.transform(value, metadata);
      return { ok: true, instance: out instanceof ListIntegrationsQueryDto, value: { ...(out as object) } };
    } catch (error) {
      return { ok: false, problem: (error as { problem: unknown }).problem };
    }
  };

  it.each([
    {},
    { pageSize: '50' },
    { pageSize: '200', pageToken: 'abc.def', view: 'FULL', enabled: 'false', connector: 'http', tag: 'prod' },
    { pageToken: '' },
    { tag: 't'.repeat(64) },
  ])('takes %j without class-validator and gives what class-validator gives', async (value) => {
    expect(fastQuery(ListIntegrationsQueryDto, value)).toBeDefined();
    expect(await outcome(pipe, value)).toEqual(await outcome(reference, value));
    expect(await outcome(pipe, value)).toMatchObject({ ok: true, instance: true });
  });

  it.each([
    { pageSize: '0' },
    { pageSize: '201' },
    { pageSize: '1e2' },
    { pageSize: ' 5' },
    { pageSize: ['5', '6'] },
    { view: 'EVERYTHING' },
    { enabled: 'yes' },
    { connector: '' },
    { tag: 't'.repeat(65) },
    { pageToken: 'x'.repeat(513) },
    { colour: 'blue' },
    { tag: '\u{1F600}'.repeat(40) },
  ])('leaves %j to class-validator, which answers as before', async (value) => {
    expect(fastQuery(ListIntegrationsQueryDto, value)).toBeUndefined();
    expect(await outcome(pipe, value)).toEqual(await outcome(reference, value));
  });
});
