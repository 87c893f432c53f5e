import 'reflect-metadata';
import { loadConfig, runService } from '@elo/platform';
import { AppModule, SERVICE } from './app.module';
import { ChatIngressConfig } from './config/chat-ingress.config';

const config = loadConfig(ChatIngressConfig);
void runService(AppModule.register(config), { service: SERVICE, title: 'Elo chat-ingress', config });
