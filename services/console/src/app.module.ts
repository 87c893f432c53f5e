import { Module, type DynamicModule } from '@nestjs/common';
import type { ConsoleConfig } from './config/console.config';
import { HealthController } from './health/health.controller';
import { CONSOLE_CONFIG, WEB_DIST } from './tokens';

export const SERVICE = 'console';

@Module({})
export class AppModule {
  static register(config: ConsoleConfig, webDist: string | undefined): DynamicModule {
    return {
      module: AppModule,
      controllers: [HealthController],
      providers: [
        { provide: CONSOLE_CONFIG, useValue: config },
        { provide: WEB_DIST, useValue: webDist },
      ],
    };
  }
}
