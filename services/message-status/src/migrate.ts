import 'reflect-metadata';
import { migrateCommand } from '@elo/persistence';
import { SCHEMA } from './app.module';
import { migrations } from './database/migrations';

/** `nx run message-status:migrate`: applies pending migrations of the service's schema to DATABASE_URL (default: npm start's local database) and exits. */
migrateCommand(SCHEMA, migrations);
