import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { runMigrationsExclusively } from './data-source';

/** Applies pending migrations before the app serves; instances starting together migrate once. */
@Injectable()
export class DatabaseMigrator implements OnModuleInit {
  constructor(private readonly dataSource: DataSource) {}

  async onModuleInit(): Promise<void> {
    await runMigrationsExclusively(this.dataSource);
  }
}
