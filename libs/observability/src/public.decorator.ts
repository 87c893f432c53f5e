import { SetMetadata } from '@nestjs/common';

/** Metadata key the API-key guard honours: routes marked @Public() need no key. */
export const IS_PUBLIC_KEY = 'elo:public';

/** Marks a route (or controller) as needing no API key: health, webhooks verified by signature, pages. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC_KEY, true);
