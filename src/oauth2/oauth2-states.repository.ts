import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

export interface OAuth2StateRow {
  state_hash: string;
  tenant_id: string;
  connection_id: string;
  user_id: string;
  /** Encrypted (resourceType 'oauth2_state', field 'codeVerifier'). */
  code_verifier: string;
  redirect_uri: string;
  expires_at: Date;
  used_at: Date | null;
}

const COLUMNS = 'state_hash, tenant_id, connection_id, user_id, code_verifier, redirect_uri, expires_at, used_at';

/** One-time authorization states; only their SHA-256 is stored, so a database read cannot complete a flow. */
@Injectable()
export class OAuth2StatesRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(m: EntityManager, row: Omit<OAuth2StateRow, 'used_at'>): Promise<void> {
    await m.query(
      `INSERT INTO oauth2_states (state_hash, tenant_id, connection_id, user_id, code_verifier, redirect_uri, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [row.state_hash, row.tenant_id, row.connection_id, row.user_id, row.code_verifier, row.redirect_uri, row.expires_at],
    );
  }

  /** Marks the state used, atomically: of two callbacks racing with one state, exactly one gets the row. */
  async consume(stateHash: string): Promise<OAuth2StateRow | null> {
    const rows: unknown = await this.dataSource.query(
      `UPDATE oauth2_states SET used_at = now() WHERE state_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING ${COLUMNS}`,
      [stateHash],
    );
    const list = Array.isArray(rows) && Array.isArray(rows[0]) ? (rows[0] as OAuth2StateRow[]) : (rows as OAuth2StateRow[]);
    return list[0] ?? null;
  }

  /** A state that could not be consumed, to tell "expired" and "already used" apart from "unknown". */
  async findByHash(stateHash: string): Promise<OAuth2StateRow | null> {
    const [row]: OAuth2StateRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM oauth2_states WHERE state_hash = $1`, [stateHash]);
    return row ?? null;
  }

  /** Housekeeping: states are useless a while after they expire. */
  async deleteExpired(olderThanSeconds: number): Promise<number> {
    const rows: unknown = await this.dataSource.query(`DELETE FROM oauth2_states WHERE expires_at < now() - make_interval(secs => $1) RETURNING state_hash`, [olderThanSeconds]);
    const list = Array.isArray(rows) && Array.isArray(rows[0]) ? (rows[0] as unknown[]) : (rows as unknown[]);
    return list.length;
  }
}
