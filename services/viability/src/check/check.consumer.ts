import { Inject, Injectable } from '@nestjs/common';
import { SERVICE_CONFIG } from '@elo/platform';
import { EventHandler, type HandlerContext } from '@elo/messaging';
import type { ChatMessageReceived, CloudEvent, ViabilityRequested } from '@elo/contracts';
import { randomUUID } from 'node:crypto';
import type { ViabilityConfig } from '../config/viability.config';
import { FindmeService } from '../findme/findme.service';
import { GeocoderError } from '../geocoder/geocoder.service';
import { toCoordinates } from './check.dto';
import { checkedSpec, ChecksService } from './checks.service';
import { chatChecksOn, ViabilityService } from './viability.service';

/**
 * Checks asked for on the bus: a bot flow's viability step, and customers' location messages.
 * A bot flow waits for viability.checked, so every viability.requested gets one: a check, or not_found
 * with the reason (no location, geocoder down after GEOCODER_EVENT_ATTEMPTS deliveries, FindME SMS not
 * sent, FindME link expired unused; the last two from FindmeService).
 */
@Injectable()
export class CheckConsumer {
  constructor(
    private readonly checks: ChecksService,
    private readonly viability: ViabilityService,
    private readonly findme: FindmeService,
    @Inject(SERVICE_CONFIG) private readonly config: ViabilityConfig,
  ) {}

  @EventHandler('viability.requested')
  async onRequested(event: CloudEvent<ViabilityRequested>, ctx: HandlerContext): Promise<void> {
    const d = event.data;
    if (d.location) {
      await this.checks.runIn(ctx.manager, event.tenantid, {
        // The contract's validation accepts decimal strings: the check needs numbers.
        ...toCoordinates(d.location),
        via: 'coordinates',
        requestId: d.requestId,
        conversationId: d.conversationId,
        channelId: d.channelId,
      });
      return;
    }
    // An address of blanks is none: the geocoder would be asked for nothing (and Nominatim refuses an empty query).
    if (d.address?.trim() && !d.findme) {
      try {
        await this.checks.runAddress(ctx.manager, event.tenantid, d.address, {
          requestId: d.requestId,
          conversationId: d.conversationId,
          channelId: d.channelId,
        });
      } catch (err) {
        // A geocoder outage is retried by the bus a few times; then the flow gets its answer instead of
        // waiting while the event goes on to the parking lot.
        if (!(err instanceof GeocoderError) || ctx.attempt < this.config.GEOCODER_EVENT_ATTEMPTS) throw err;
        await this.notFound(ctx, event, 'address', `the address could not be looked up: ${err.message}`);
      }
      return;
    }
    if (d.findme && d.phone && this.findme.configured) {
      // The customer gets a link; viability.checked follows when they confirm a point on the map (or
      // not_found when the SMS is not sent or the link expires). The link is written in this transaction
      // and the SMS sent once it commits: a redelivery after a rollback sends one link, not two.
      await this.findme.create(
        event.tenantid,
        {
          phone: d.phone,
          requestId: d.requestId,
          ...(d.conversationId ? { conversationId: d.conversationId } : {}),
          ...(d.channelId ? { channelId: d.channelId } : {}),
        },
        ctx.manager,
      );
      return;
    }
    await this.notFound(
      ctx,
      event,
      d.findme ? 'findme' : 'address',
      !d.findme ? 'no location or address given' : d.phone ? 'FindME is not configured here' : 'a FindME request needs the phone number',
    );
  }

  /** Answers a request that cannot be checked: viability.checked not_found with the reason. */
  private async notFound(ctx: HandlerContext, event: CloudEvent<ViabilityRequested>, via: 'address' | 'findme', reason: string): Promise<void> {
    const d = event.data;
    await ctx.publish(checkedSpec(event.tenantid, d.requestId, d, { status: 'not_found', via, reason }));
  }

  @EventHandler('chat.message.received')
  async onChatMessage(event: CloudEvent<ChatMessageReceived>, ctx: HandlerContext): Promise<void> {
    const loc = event.data.message.location;
    // An edited location is a live location moving: its first share was checked and answered. A standby one is in a
    // thread another app owns (Messenger's Page Inbox): a person answers there, not an automatic reply.
    if (event.data.message.kind !== 'location' || !loc || event.data.message.edited || event.data.message.standby) return;
    // The channel's bot flow was waiting for this location (a viability step or a FindME link): the flow
    // requests the check and answers the customer itself; a reply here would be a second answer.
    if (event.data.flowAwaitsLocation === true) return;
    const settings = await this.viability.settings(ctx.manager, event.tenantid);
    if (!chatChecksOn(settings, event.data.channelId)) return;
    const result = await this.checks.runIn(ctx.manager, event.tenantid, {
      ...toCoordinates(loc),
      via: 'chat_location',
      conversationId: event.data.conversationId,
      channelId: event.data.channelId,
    });
    await ctx.publish({
      type: 'chat.message.send.requested',
      tenantId: event.tenantid,
      subject: event.data.conversationId,
      data: {
        messageId: randomUUID(),
        conversationId: event.data.conversationId,
        channelId: event.data.channelId,
        message: { kind: 'text', text: this.viability.reply(result, settings) },
        origin: 'viability',
      },
    });
  }
}
