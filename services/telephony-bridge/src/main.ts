import 'reflect-metadata';
import { loadConfig, runService } from '@elo/platform';
import { AppModule, SERVICE } from './app.module';
import { TelephonyBridgeConfig } from './config/telephony-bridge.config';

const config = loadConfig(TelephonyBridgeConfig);
void runService(AppModule.register(config), { service: SERVICE, title: 'Elo telephony-bridge', config });
