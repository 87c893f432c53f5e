import { DynamicModule, Module } from '@nestjs/common';
import { LIVE_FEED_OPTIONS, LiveFeed, type LiveFeedOptions } from './live-feed.service';

@Module({})
export class LiveModule {
  static forRoot(opts: LiveFeedOptions): DynamicModule {
    return {
      module: LiveModule,
      global: true,
      providers: [{ provide: LIVE_FEED_OPTIONS, useValue: opts }, LiveFeed],
      exports: [LiveFeed],
    };
  }
}
