import { Module } from '@nestjs/common';
import { PresetsController, ProfilesController } from './profiles.controller';
import { ProfilesService } from './profiles.service';

@Module({ controllers: [ProfilesController, PresetsController], providers: [ProfilesService], exports: [ProfilesService] })
export class ProfilesModule {}
