import { Module } from '@nestjs/common';
import { ProfilesModule } from '../profiles/profiles.module';
import { CallsController } from './calls.controller';
import { Click2CallService } from './click2call.service';
import { RecordingsService } from './recordings.service';

@Module({ imports: [ProfilesModule], controllers: [CallsController], providers: [Click2CallService, RecordingsService] })
export class CallsModule {}
