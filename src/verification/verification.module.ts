import { Module } from '@nestjs/common';
import { CheckRunner } from './check-runner.service';

@Module({ providers: [CheckRunner], exports: [CheckRunner] })
export class VerificationModule {}
