import { Module } from '@nestjs/common';
import { ProfilesModule } from '../profiles/profiles.module';
import { CallbacksController } from './callbacks.controller';
import { CallbacksService } from './callbacks.service';

@Module({ imports: [ProfilesModule], controllers: [CallbacksController], providers: [CallbacksService] })
export class CallbacksModule {}
