import 'reflect-metadata';
import { loadConfig, runService } from '@elo/platform';
import { AppModule, SERVICE } from './app.module';
import { MessageStatusConfig } from './config/message-status.config';

const config = loadConfig(MessageStatusConfig);
void runService(AppModule.register(config), { service: SERVICE, title: 'Elo message-status', config });
