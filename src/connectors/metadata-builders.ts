import type { AuthMetadata, AuthType, ParameterMetadata, ParameterType } from './connector.types';

export type ParamInput = Partial<ParameterMetadata> & { name: string; type: ParameterType };

/** Builds a full parameter entry from the few fields a connector cares about. */
export function param(index: number, input: ParamInput): ParameterMetadata {
  return {
    index,
    typeName: null,
    displayName: input.name,
    description: null,
    required: false,
    secret: false,
    defaultValue: null,
    integerRange: null,
    floatRange: null,
    options: null,
    asset: null,
    jsonSchema: null,
    uiHint: null,
    rules: [],
    ...input,
  };
}

/** Builds a list of parameters, numbering `index` in the order given. */
export function params(...inputs: ParamInput[]): ParameterMetadata[] {
  return inputs.map((input, i) => param(i, input));
}

type AuthInput = Partial<AuthMetadata> & { type: AuthType; credentials: ParamInput[] };

/** Builds an auth method entry; its `id` defaults to its type, as API.md requires of protocol connectors. */
export function auth(input: AuthInput): AuthMetadata {
  const { credentials, ...rest } = input;
  return {
    id: input.type,
    displayName: input.type,
    description: null,
    sensitivity: 'HIGH',
    authProviderName: null,
    configTestSupported: true,
    supportedLevels: ['APPLICATION', 'USER'],
    authMap: null,
    authSettings: null,
    availableScopes: [],
    ...rest,
    parametersMetadata: credentials.map((c, i) => param(i, { secret: true, required: true, ...c })),
  };
}
