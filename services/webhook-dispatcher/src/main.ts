import 'reflect-metadata';
import { loadConfig, runService } from '@elo/platform';
import { AppModule, SERVICE } from './app.module';
import { WebhookDispatcherConfig } from './config/webhook-dispatcher.config';

const config = loadConfig(WebhookDispatcherConfig);
void runService(AppModule.register(config), { service: SERVICE, title: 'Elo webhook-dispatcher', config });
