import { Global, Module } from '@nestjs/common';
import { PreparedSql } from './prepared-sql';

/** Database helpers every feature module may inject; the DataSource itself comes from TypeOrmModule. */
@Global()
@Module({
  providers: [PreparedSql],
  exports: [PreparedSql],
})
export class DatabaseModule {}
