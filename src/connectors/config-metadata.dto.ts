import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  Allow,
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotIn,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import {
  AUTH_TYPES,
  PARAMETER_TYPES,
  SENSITIVITIES,
  SUPPORTED_LEVELS,
  type AuthMap,
  type AuthMetadata,
  type AuthType,
  type ConfigMetadata,
  type NumberRange,
  type ParameterMetadata,
  type ParameterOption,
  type ParameterType,
  type Sensitivity,
  type SupportedLevel,
} from './connector.types';
import { PARAMETER_NAME_PATTERN, checkValue, compileJsonSchema, type FieldError } from './parameter-validation';

/** Auth ids are what clients send as `authMethod`, so they follow the client-chosen identifier rule. */
export const AUTH_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * Valid by the pattern, but as object keys they would reach Object.prototype, and the request
 * pipeline (class-transformer) silently drops a body key that names an inherited method: a
 * parameter or credential called `toString` would never arrive.
 */
const RESERVED_NAMES = [...new Set(['prototype', ...Object.getOwnPropertyNames(Object.prototype)])];

export const MAX_PARAMETERS = 100;
export const MAX_AUTH_METHODS = 20;
export const MAX_OPTIONS = 50;
const MAX_INDEX = 10_000;
const MAX_RULES = 50;
const MAX_SCOPES = 100;

/**
 * The field may be left out (the normaliser then fills its default) but, unlike @IsOptional,
 * may not be null: null is a wrong type for a field that has no null in the contract.
 */
function IsOmittable(): PropertyDecorator {
  return ValidateIf((_object: unknown, value: unknown) => value !== undefined);
}

export class NumberRangeDto {
  @ApiPropertyOptional({ type: 'number', nullable: true, description: 'Inclusive lower bound; null for none.' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  min?: number | null;

  @ApiPropertyOptional({ type: 'number', nullable: true, description: 'Inclusive upper bound; null for none.' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  max?: number | null;
}

export class ParameterOptionDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'GET' })
  @IsString()
  @Length(1, 200)
  value: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: 100, description: 'Defaults to `value`.' })
  @IsOmittable()
  @IsString()
  @Length(1, 100)
  displayName?: string;
}

export class ParameterMetadataDto {
  @ApiProperty({ pattern: PARAMETER_NAME_PATTERN.source, example: 'baseUrl' })
  @IsString()
  @Matches(PARAMETER_NAME_PATTERN)
  @IsNotIn(RESERVED_NAMES, { message: '$property must not be the name of an Object.prototype member (__proto__, constructor, prototype, toString, valueOf, …)' })
  name: string;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    maximum: MAX_INDEX,
    description: 'Display order; unique within its list. Defaults to the entry’s position.',
  })
  @IsOmittable()
  @IsInt()
  @Min(0)
  @Max(MAX_INDEX)
  index?: number;

  @ApiProperty({ enum: [...PARAMETER_TYPES], enumName: 'ParameterType' })
  @IsIn(PARAMETER_TYPES)
  type: ParameterType;

  @ApiPropertyOptional({ type: 'string', nullable: true, maxLength: 100 })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  typeName?: string | null;

  @ApiPropertyOptional({ minLength: 1, maxLength: 100, description: 'Defaults to `name`.' })
  @IsOmittable()
  @IsString()
  @Length(1, 100)
  displayName?: string;

  @ApiPropertyOptional({ type: 'string', nullable: true, maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string | null;

  @ApiPropertyOptional({ default: false })
  @IsOmittable()
  @IsBoolean()
  required?: boolean;

  @ApiPropertyOptional({ default: false, description: 'Values are encrypted at rest and never returned.' })
  @IsOmittable()
  @IsBoolean()
  secret?: boolean;

  @ApiPropertyOptional({
    description: 'Any JSON value, used when the parameter is not given. Must be null for a secret parameter.',
    nullable: true,
    oneOf: [
      { type: 'string' },
      { type: 'number' },
      { type: 'boolean' },
      { type: 'object' },
      { type: 'array', items: {} },
    ],
  })
  @IsOptional()
  @Allow()
  defaultValue?: unknown;

  @ApiPropertyOptional({ type: () => NumberRangeDto, nullable: true, description: 'For Integer parameters.' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => NumberRangeDto)
  integerRange?: NumberRangeDto | null;

  @ApiPropertyOptional({ type: () => NumberRangeDto, nullable: true, description: 'For Float parameters.' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => NumberRangeDto)
  floatRange?: NumberRangeDto | null;

  @ApiPropertyOptional({
    type: () => [ParameterOptionDto],
    nullable: true,
    maxItems: MAX_OPTIONS,
    description: 'Required, non-empty, for Options parameters.',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_OPTIONS)
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => ParameterOptionDto)
  options?: ParameterOptionDto[] | null;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, nullable: true })
  @IsOptional()
  @IsObject()
  asset?: Record<string, unknown> | null;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description: 'A JSON Schema (draft-07) the value must satisfy.',
  })
  @IsOptional()
  @IsObject()
  jsonSchema?: Record<string, unknown> | null;

  @ApiPropertyOptional({ type: 'string', nullable: true, maxLength: 100 })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  uiHint?: string | null;

  @ApiPropertyOptional({ type: 'array', items: {}, maxItems: MAX_RULES, default: [] })
  @IsOmittable()
  @IsArray()
  @ArrayMaxSize(MAX_RULES)
  rules?: unknown[];
}

export class AuthMapDto {
  @ApiPropertyOptional({ default: false })
  @IsOmittable()
  @IsBoolean()
  useMap?: boolean;

  @ApiPropertyOptional({ type: 'string', nullable: true, maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  keyTemplate?: string | null;

  @ApiPropertyOptional({ type: () => [ParameterMetadataDto], maxItems: MAX_PARAMETERS, default: [] })
  @IsOmittable()
  @IsArray()
  @ArrayMaxSize(MAX_PARAMETERS)
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => ParameterMetadataDto)
  parametersMetadata?: ParameterMetadataDto[];
}

export class AuthSettingsDto {
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    default: {},
    description: 'Non-secret defaults for the credential fields.',
  })
  @IsOmittable()
  @IsObject()
  parameters?: Record<string, unknown>;
}

export class AuthMetadataDto {
  @ApiProperty({ pattern: AUTH_ID_PATTERN.source, example: 'pat', description: 'What clients send as `authMethod`.' })
  @IsString()
  @Matches(AUTH_ID_PATTERN)
  id: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: 100, description: 'Defaults to `id`.' })
  @IsOmittable()
  @IsString()
  @Length(1, 100)
  displayName?: string;

  @ApiPropertyOptional({ type: 'string', nullable: true, maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string | null;

  @ApiProperty({ enum: [...AUTH_TYPES], enumName: 'AuthType' })
  @IsIn(AUTH_TYPES)
  type: AuthType;

  @ApiPropertyOptional({ enum: [...SENSITIVITIES], enumName: 'Sensitivity', default: 'UNSPECIFIED' })
  @IsOmittable()
  @IsIn(SENSITIVITIES)
  sensitivity?: Sensitivity;

  @ApiPropertyOptional({ type: 'string', nullable: true, maxLength: 100 })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  authProviderName?: string | null;

  @ApiPropertyOptional({ default: true, description: 'False makes `:verifyConfig` answer 422 for this method.' })
  @IsOmittable()
  @IsBoolean()
  configTestSupported?: boolean;

  @ApiPropertyOptional({
    enum: [...SUPPORTED_LEVELS],
    enumName: 'SupportedLevel',
    isArray: true,
    default: ['APPLICATION', 'USER'],
    description: 'APPLICATION: on the integration; USER: on connections.',
  })
  @IsOmittable()
  @IsArray()
  @ArrayUnique()
  @IsIn(SUPPORTED_LEVELS, { each: true })
  supportedLevels?: SupportedLevel[];

  @ApiPropertyOptional({ type: () => AuthMapDto, nullable: true })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => AuthMapDto)
  authMap?: AuthMapDto | null;

  @ApiPropertyOptional({ type: () => AuthSettingsDto, nullable: true })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => AuthSettingsDto)
  authSettings?: AuthSettingsDto | null;

  @ApiPropertyOptional({
    type: () => [ParameterMetadataDto],
    maxItems: MAX_PARAMETERS,
    default: [],
    description: 'The credential fields of this method.',
  })
  @IsOmittable()
  @IsArray()
  @ArrayMaxSize(MAX_PARAMETERS)
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => ParameterMetadataDto)
  parametersMetadata?: ParameterMetadataDto[];

  @ApiPropertyOptional({ type: [String], maxItems: MAX_SCOPES, default: [] })
  @IsOmittable()
  @IsArray()
  @ArrayMaxSize(MAX_SCOPES)
  @IsString({ each: true })
  @Length(1, 200, { each: true })
  availableScopes?: string[];
}

export class ConfigMetadataDto {
  @ApiProperty({ type: () => [ParameterMetadataDto], maxItems: MAX_PARAMETERS })
  @IsArray()
  @ArrayMaxSize(MAX_PARAMETERS)
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => ParameterMetadataDto)
  parametersMetadata: ParameterMetadataDto[];

  @ApiProperty({ type: () => [AuthMetadataDto], maxItems: MAX_AUTH_METHODS })
  @IsArray()
  @ArrayMaxSize(MAX_AUTH_METHODS)
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => AuthMetadataDto)
  authMetadata: AuthMetadataDto[];
}

/** The stored shape of a validated DTO: every omitted field gets its default. */
export function normalizeConfigMetadata(dto: ConfigMetadataDto): ConfigMetadata {
  return {
    parametersMetadata: normalizeParameters(dto.parametersMetadata),
    authMetadata: dto.authMetadata.map(normalizeAuth),
  };
}

function normalizeParameters(list: ParameterMetadataDto[] | undefined): ParameterMetadata[] {
  return (list ?? []).map((p, position) => ({
    name: p.name,
    index: p.index ?? position,
    type: p.type,
    typeName: p.typeName ?? null,
    displayName: p.displayName ?? p.name,
    description: p.description ?? null,
    required: p.required ?? false,
    secret: p.secret ?? false,
    defaultValue: p.defaultValue ?? null,
    integerRange: normalizeRange(p.integerRange),
    floatRange: normalizeRange(p.floatRange),
    options: p.options ? p.options.map(normalizeOption) : null,
    asset: p.asset ?? null,
    jsonSchema: p.jsonSchema ?? null,
    uiHint: p.uiHint ?? null,
    rules: p.rules ?? [],
  }));
}

function normalizeRange(range: NumberRangeDto | null | undefined): NumberRange | null {
  return range ? { min: range.min ?? null, max: range.max ?? null } : null;
}

function normalizeOption(option: ParameterOptionDto): ParameterOption {
  return { value: option.value, displayName: option.displayName ?? option.value };
}

function normalizeAuthMap(map: AuthMapDto | null | undefined): AuthMap | null {
  if (!map) return null;
  return {
    useMap: map.useMap ?? false,
    keyTemplate: map.keyTemplate ?? null,
    parametersMetadata: normalizeParameters(map.parametersMetadata),
  };
}

function normalizeAuth(a: AuthMetadataDto): AuthMetadata {
  return {
    id: a.id,
    displayName: a.displayName ?? a.id,
    description: a.description ?? null,
    type: a.type,
    sensitivity: a.sensitivity ?? 'UNSPECIFIED',
    authProviderName: a.authProviderName ?? null,
    configTestSupported: a.configTestSupported ?? true,
    supportedLevels: a.supportedLevels ? [...a.supportedLevels] : ['APPLICATION', 'USER'],
    authMap: normalizeAuthMap(a.authMap),
    authSettings: a.authSettings ? { parameters: a.authSettings.parameters ?? {} } : null,
    parametersMetadata: normalizeParameters(a.parametersMetadata),
    availableScopes: a.availableScopes ? [...a.availableScopes] : [],
  };
}

/**
 * Cross-field rules a DTO decorator cannot see. Any error makes the request 400: the
 * metadata is malformed on its face, whatever values it is later used with.
 */
export function checkConfigMetadata(meta: ConfigMetadata, prefix = 'configMetadata'): FieldError[] {
  const errors: FieldError[] = [];
  errors.push(...checkParameterList(meta.parametersMetadata, `${prefix}.parametersMetadata`));

  const firstById = new Map<string, number>();
  meta.authMetadata.forEach((a, i) => {
    const path = `${prefix}.authMetadata[${i}]`;
    const sameId = earlierPosition(firstById, a.id, i);
    if (sameId !== undefined) errors.push(duplicate(`${path}.id`, `authMetadata[${sameId}]`, 'id'));

    errors.push(...checkParameterList(a.parametersMetadata, `${path}.parametersMetadata`));
    if (a.authMap) {
      errors.push(...checkParameterList(a.authMap.parametersMetadata, `${path}.authMap.parametersMetadata`));
    }
    if (a.authSettings) {
      const secretNames = new Set(
        [...a.parametersMetadata, ...(a.authMap?.parametersMetadata ?? [])].filter((p) => p.secret).map((p) => p.name),
      );
      for (const key of Object.keys(a.authSettings.parameters)) {
        if (secretNames.has(key)) {
          errors.push({
            field: `${path}.authSettings.parameters.${key}`,
            message: 'must not be set: it is a secret credential, and settings are stored and returned in clear',
          });
        }
      }
    }
  });
  return errors;
}

function checkParameterList(list: ParameterMetadata[], path: string): FieldError[] {
  const errors: FieldError[] = [];
  const firstByName = new Map<string, number>();
  const firstByIndex = new Map<number, number>();

  list.forEach((p, i) => {
    const at = `${path}[${i}]`;
    const sameName = earlierPosition(firstByName, p.name, i);
    if (sameName !== undefined) errors.push(duplicate(`${at}.name`, `parametersMetadata[${sameName}]`, 'name'));
    const sameIndex = earlierPosition(firstByIndex, p.index, i);
    if (sameIndex !== undefined) errors.push(duplicate(`${at}.index`, `parametersMetadata[${sameIndex}]`, 'index'));

    errors.push(...checkRange(p.integerRange, `${at}.integerRange`, true));
    errors.push(...checkRange(p.floatRange, `${at}.floatRange`, false));

    if (p.type === 'Options' && (p.options === null || p.options.length === 0)) {
      errors.push({ field: `${at}.options`, message: 'must list at least one option for an Options parameter' });
    }
    const firstByValue = new Map<string, number>();
    (p.options ?? []).forEach((o, k) => {
      const same = earlierPosition(firstByValue, o.value, k);
      if (same !== undefined) errors.push(duplicate(`${at}.options[${k}].value`, `options[${same}]`, 'value'));
    });

    let schemaCompiles = true;
    if (p.jsonSchema !== null) {
      const compiled = compileJsonSchema(p.jsonSchema);
      if (!compiled.ok) {
        schemaCompiles = false;
        errors.push({ field: `${at}.jsonSchema`, message: compiled.message });
      }
    }

    if (p.defaultValue !== null && p.defaultValue !== undefined) {
      if (p.secret) {
        errors.push({
          field: `${at}.defaultValue`,
          message: 'must be null for a secret parameter: metadata is stored and returned in clear',
        });
      } else if (schemaCompiles) {
        const message = checkValue(p, p.defaultValue);
        if (message !== null) errors.push({ field: `${at}.defaultValue`, message });
      }
    }
  });
  return errors;
}

function checkRange(range: NumberRange | null, field: string, integers: boolean): FieldError[] {
  if (range === null) return [];
  const errors: FieldError[] = [];
  if (integers) {
    for (const bound of ['min', 'max'] as const) {
      const value = range[bound];
      if (value !== null && !Number.isSafeInteger(value)) {
        errors.push({ field: `${field}.${bound}`, message: 'must be an integer' });
      }
    }
  }
  if (range.min !== null && range.max !== null && range.min > range.max) {
    errors.push({ field, message: 'min must not be greater than max' });
  }
  return errors;
}

/** Records `key` at `position`; answers where it was seen before, if it was. */
function earlierPosition<K>(seen: Map<K, number>, key: K, position: number): number | undefined {
  const earlier = seen.get(key);
  if (earlier === undefined) seen.set(key, position);
  return earlier;
}

function duplicate(field: string, other: string, what: string): FieldError {
  return { field, message: `must be unique: ${other} has the same ${what}` };
}
