export const TENANT_ROLES = ['viewer', 'editor', 'admin'] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];
export const PLATFORM_ADMIN = 'platform-admin';
export type Role = TenantRole | typeof PLATFORM_ADMIN;

/** Who is calling, as proven by a verified token. The tenant comes only from here. */
export interface Principal {
  sub: string;
  tenantId: string | null;
  roles: Role[];
  platformAdmin: boolean;
}

const RANK: Record<TenantRole, number> = { viewer: 1, editor: 2, admin: 3 };

/** The highest tenant role the principal holds in `tenantId` (platform-admins act as admin anywhere). */
export function roleIn(principal: Principal, tenantId: string): TenantRole | null {
  if (principal.platformAdmin) return 'admin';
  if (principal.tenantId !== tenantId) return null;
  let best: TenantRole | null = null;
  for (const role of principal.roles) {
    if (role !== PLATFORM_ADMIN && (best === null || RANK[role] > RANK[best])) best = role;
  }
  return best;
}

export function hasAtLeast(role: TenantRole | null, required: TenantRole): boolean {
  return role !== null && RANK[role] >= RANK[required];
}
