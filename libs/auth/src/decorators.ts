import { ApiExtension, ApiSecurity } from '@nestjs/swagger';
import { applyDecorators, createParamDecorator, ExecutionContext, ForbiddenException, SetMetadata } from '@nestjs/common';
import type { Permission, Principal } from './permissions';
import { problem } from './problem';

/** Metadata key holding the permission a route needs. */
export const PERMISSION_KEY = 'elo:permission';

/** Names the permission a route (or every route of a controller) needs. A route with none, not @Public, is refused. */
export const RequirePermission = (permission: Permission): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(PERMISSION_KEY, permission),
    // Published in the OpenAPI document, so tooling (and the security test matrix) knows what each
    // operation needs.
    ApiExtension('x-elo-permission', permission),
    ApiSecurity('bearer'),
  ) as MethodDecorator & ClassDecorator;

/** Metadata key marking a route any valid API key may call (no particular permission). */
export const ANY_API_KEY = 'elo:any-api-key';

/**
 * The route needs a valid key but no particular permission (e.g. GET /auth/me). Use sparingly: it
 * must reveal nothing beyond what the key itself is.
 */
export const AnyApiKey = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(ANY_API_KEY, true), ApiExtension('x-elo-any-key', true), ApiSecurity('bearer')) as MethodDecorator &
    ClassDecorator;

/** The authenticated caller (`request.principal`, set by ApiKeyGuard). */
export const CurrentPrincipal = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): Principal => ctx.switchToHttp().getRequest<{ principal: Principal }>().principal,
);

/** The caller's tenant; the bootstrap admin has none and may not touch tenant data (403). */
export function tenantIdOf(p: Principal | undefined): string {
  if (!p?.tenantId) throw new ForbiddenException(problem(403, 'this endpoint needs a tenant API key'));
  return p.tenantId;
}
