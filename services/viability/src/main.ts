import 'reflect-metadata';
import { loadConfig, runService } from '@elo/platform';
import { AppModule, SERVICE } from './app.module';
import { ViabilityConfig } from './config/viability.config';

const config = loadConfig(ViabilityConfig);
void runService(AppModule.register(config), { service: SERVICE, title: 'Elo viability', config });
