import { DynamicModule, Module } from '@nestjs/common';
import { EloServiceModule } from '@elo/platform';
import { ChatIngressConfig } from './config/chat-ingress.config';
import { migrations } from './database/migrations';
import { ChatModule } from './chat.module';

export const SERVICE = 'chat-ingress';
export const SCHEMA = 'chat_ingress';

@Module({})
export class AppModule {
  static register(config: ChatIngressConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [EloServiceModule.forRoot({
        service: SERVICE, schema: SCHEMA, config, entities: [], migrations,
        retention: [{ table: `"${SCHEMA}".webhook_receipts`, column: 'received_at', days: config.WEBHOOK_RECEIPT_RETENTION_DAYS }],
      }), ChatModule],
    };
  }
}
