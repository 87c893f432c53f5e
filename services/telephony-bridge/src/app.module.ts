import { DynamicModule, Module } from '@nestjs/common';
import { EloServiceModule } from '@elo/platform';
import { TelephonyBridgeConfig } from './config/telephony-bridge.config';
import { migrations } from './database/migrations';

export const SERVICE = 'telephony-bridge';
export const SCHEMA = 'telephony';

@Module({})
export class AppModule {
  static register(config: TelephonyBridgeConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [EloServiceModule.forRoot({ service: SERVICE, schema: SCHEMA, config, entities: [], migrations })],
    };
  }
}
