import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const ID_MESSAGE = { message: 'must match ^[A-Za-z0-9_-]{1,64}$' };

export class TenantIdParam {
  @ApiProperty({ pattern: ID.source })
  @IsString()
  @Matches(ID, ID_MESSAGE)
  tenant: string;
}

export class IntegrationIdParam extends TenantIdParam {
  @ApiProperty({ pattern: ID.source })
  @IsString()
  @Matches(ID, ID_MESSAGE)
  integration: string;
}
