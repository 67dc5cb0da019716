import { takesNoBody } from './json-body';

describe('takesNoBody', () => {
  it('is true for DELETE and for POST to a :verb action, query or not', () => {
    expect(takesNoBody({ method: 'DELETE', url: '/v1/tenants/a/integrations/b' })).toBe(true);
    expect(takesNoBody({ method: 'POST', url: '/v1/tenants/a/integrations/b:verifyConfig' })).toBe(true);
    expect(takesNoBody({ method: 'POST', url: '/v1/tenants/a/webhook-endpoints/w:rotateSecret?x=1' })).toBe(true);
  });
  it('is false for creates and PATCH', () => {
    expect(takesNoBody({ method: 'POST', url: '/v1/tenants' })).toBe(false);
    expect(takesNoBody({ method: 'POST', url: '/v1/tenants/a/integrations' })).toBe(false);
    expect(takesNoBody({ method: 'PATCH', url: '/v1/tenants/a/integrations/b:verifyConfig' })).toBe(false);
  });
});
