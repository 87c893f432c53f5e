import { Module } from '@nestjs/common';
import { ProfilesModule } from '../profiles/profiles.module';
import { ScreenPopModule } from '../screen-pop/screen-pop.module';
import { CallbacksController } from './callbacks.controller';
import { CallbacksService } from './callbacks.service';

@Module({ imports: [ProfilesModule, ScreenPopModule], controllers: [CallbacksController], providers: [CallbacksService] })
export class CallbacksModule {}
