import { Injectable } from '@nestjs/common';
import { EventHandler, type HandlerContext } from '@elo/messaging';
import type { ChatMessageReceived, CloudEvent, ViabilityRequested } from '@elo/contracts';
import { randomUUID } from 'node:crypto';
import { FindmeService } from '../findme/findme.service';
import { toCoordinates } from './check.dto';
import { ChecksService } from './checks.service';
import { chatChecksOn, ViabilityService } from './viability.service';

/** Checks asked for on the bus: a bot flow's viability step, and customers' location messages. */
@Injectable()
export class CheckConsumer {
  constructor(
    private readonly checks: ChecksService,
    private readonly viability: ViabilityService,
    private readonly findme: FindmeService,
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
    if (d.address && !d.findme) {
      await this.checks.runAddress(ctx.manager, event.tenantid, d.address, {
        requestId: d.requestId,
        conversationId: d.conversationId,
        channelId: d.channelId,
      });
      return;
    }
    if (d.findme && d.phone && this.findme.configured) {
      // The customer gets a link; viability.checked follows when they confirm a point on the map.
      await this.findme.create(event.tenantid, {
        phone: d.phone,
        requestId: d.requestId,
        ...(d.conversationId ? { conversationId: d.conversationId } : {}),
        ...(d.channelId ? { channelId: d.channelId } : {}),
      });
      return;
    }
    await ctx.publish({
      type: 'viability.checked',
      tenantId: event.tenantid,
      subject: d.conversationId ?? d.requestId,
      data: {
        requestId: d.requestId,
        ...(d.conversationId ? { conversationId: d.conversationId } : {}),
        status: 'not_found',
        via: d.findme ? 'findme' : 'address',
        reason: !d.findme ? 'no location or address given' : d.phone ? 'FindME is not configured here' : 'a FindME request needs the phone number',
      },
    });
  }

  @EventHandler('chat.message.received')
  async onChatMessage(event: CloudEvent<ChatMessageReceived>, ctx: HandlerContext): Promise<void> {
    const loc = event.data.message.location;
    if (event.data.message.kind !== 'location' || !loc) return;
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
