import { DynamicModule, Module } from '@nestjs/common';
import { EloServiceModule } from '@elo/platform';
import { MessageStatusConfig } from './config/message-status.config';
import { migrations } from './database/migrations';

export const SERVICE = 'message-status';
export const SCHEMA = 'message_status';

@Module({})
export class AppModule {
  static register(config: MessageStatusConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [EloServiceModule.forRoot({ service: SERVICE, schema: SCHEMA, config, entities: [], migrations })],
    };
  }
}
