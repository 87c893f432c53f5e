import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { AnyApiKey, CurrentPrincipal } from './decorators';
import { WhoAmIView } from './dto/auth-admin.dto';
import type { Principal } from './permissions';

/**
 * `GET /auth/me`: who the presented key is and what it may do, so a client (the console) shows only
 * what the key may use. Any valid key may ask; the answer never holds the secret.
 */
@ApiTags('tenants and keys')
@Controller('auth')
export class AuthMeController {
  constructor(private readonly ds: DataSource) {}

  @Get('me')
  @AnyApiKey()
  @ApiOperation({ summary: "The calling key: its tenant, id, name, prefix and permissions (never the secret)" })
  @ApiOkResponse({ type: WhoAmIView })
  async me(@CurrentPrincipal() p: Principal): Promise<WhoAmIView> {
    if (p.isAdmin) return { keyId: p.keyId, name: 'bootstrap admin', prefix: null, tenantId: null, permissions: [...p.permissions], isAdmin: true };
    const rows: Array<{ name: string; prefix: string }> = await this.ds.query('SELECT name, prefix FROM auth.api_keys WHERE id = $1', [p.keyId]);
    return {
      keyId: p.keyId,
      name: rows[0]?.name ?? '',
      prefix: rows[0]?.prefix ?? null,
      tenantId: p.tenantId ?? null,
      permissions: [...p.permissions],
      isAdmin: false,
    };
  }
}
