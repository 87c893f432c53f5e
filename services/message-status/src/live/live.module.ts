import { Module } from '@nestjs/common';
import { LiveFeed } from './live-feed.service';

@Module({ providers: [LiveFeed], exports: [LiveFeed] })
export class LiveModule {}
