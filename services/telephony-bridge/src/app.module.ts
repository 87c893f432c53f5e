import { DynamicModule, Module } from '@nestjs/common';
import { EloServiceModule } from '@elo/platform';
import { CallbacksModule } from './callbacks/callbacks.module';
import { CallsModule } from './calls/calls.module';
import { TelephonyBridgeConfig } from './config/telephony-bridge.config';
import { migrations } from './database/migrations';
import { ProfilesModule } from './profiles/profiles.module';
import { ScreenPopModule } from './screen-pop/screen-pop.module';

export const SERVICE = 'telephony-bridge';
export const SCHEMA = 'telephony';

@Module({})
export class AppModule {
  static register(config: TelephonyBridgeConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        EloServiceModule.forRoot({
          service: SERVICE, schema: SCHEMA, config, entities: [], migrations,
          retention: [{ table: '"telephony".callbacks', column: 'received_at', days: config.CALLBACK_RETENTION_DAYS }],
        }),
        ProfilesModule,
        ScreenPopModule,
        CallbacksModule,
        CallsModule,
      ],
    };
  }
}
