import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { MESSAGE_STATES, PROVIDERS } from '@elo/contracts';

export class FailureView {
  @ApiProperty({ example: 'outside_window' }) reason!: string;
  @ApiProperty() retryable!: boolean;
  @ApiPropertyOptional({ nullable: true, example: '131047' }) code!: string | null;
  @ApiPropertyOptional({ nullable: true }) title!: string | null;
  @ApiPropertyOptional({ nullable: true }) details!: string | null;
}

export class MessageView {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiPropertyOptional({ format: 'uuid', nullable: true }) channelId!: string | null;
  @ApiPropertyOptional({ enum: PROVIDERS, nullable: true }) provider!: string | null;
  @ApiPropertyOptional({ format: 'uuid', nullable: true }) conversationId!: string | null;
  @ApiPropertyOptional({ nullable: true }) providerMessageId!: string | null;
  @ApiProperty({ enum: MESSAGE_STATES }) status!: string;
  @ApiProperty({ format: 'date-time' }) statusAt!: string;
  @ApiPropertyOptional({ type: FailureView, nullable: true }) failure!: FailureView | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class TimelineEntryView {
  @ApiProperty({ description: 'The raw status as reported (queued, sent, delivered, read, failed).' }) status!: string;
  @ApiProperty({ enum: ['send.requested', 'sent', 'status'] }) source!: string;
  @ApiProperty({ format: 'date-time', description: "The provider's timestamp (timeline order)." }) providerTimestamp!: string;
  @ApiProperty({ format: 'date-time' }) receivedAt!: string;
  @ApiProperty({ description: 'False when the channel cannot report this state (kept, never shown as status).' }) reportable!: boolean;
  @ApiProperty({ description: 'True when this entry moved the message status.' }) applied!: boolean;
  @ApiPropertyOptional({ nullable: true }) errorCode!: string | null;
  @ApiPropertyOptional({ nullable: true }) errorTitle!: string | null;
  @ApiPropertyOptional({ nullable: true, description: "The provider's raw error text, as reported." }) errorDetails!: string | null;
  @ApiPropertyOptional({
    nullable: true, example: 'outside_window',
    description: 'The reason chat-ingress gave at send time, as it gave it (the classified one is `failure.reason`).',
  }) reason!: string | null;
}

export class MessageDetailView extends MessageView {
  @ApiProperty({ type: [TimelineEntryView] }) timeline!: TimelineEntryView[];
}

export class MessagePageView {
  @ApiProperty({ type: [MessageView] }) items!: MessageView[];
  @ApiPropertyOptional({ nullable: true }) nextCursor!: string | null;
}

export class StatusCountView {
  @ApiPropertyOptional({ format: 'uuid', nullable: true }) channelId!: string | null;
  @ApiPropertyOptional({ nullable: true }) provider!: string | null;
  @ApiProperty({ enum: MESSAGE_STATES }) status!: string;
  @ApiProperty() count!: number;
}

export class BucketCountView {
  @ApiProperty({ format: 'date-time' }) bucket!: string;
  @ApiProperty({ enum: MESSAGE_STATES }) status!: string;
  @ApiProperty() count!: number;
}

export class StatsView {
  @ApiProperty({ description: 'Messages per current status and channel.', type: [StatusCountView] }) totals!: StatusCountView[];
  @ApiProperty({ description: 'Status moves per time bucket (by provider timestamp).', type: [BucketCountView] }) buckets!: BucketCountView[];
  @ApiProperty() bucket!: string;
}

export class FailureExampleView {
  @ApiProperty() id!: string;
  @ApiPropertyOptional({ nullable: true }) channelId!: string | null;
  @ApiPropertyOptional({ nullable: true }) provider!: string | null;
  @ApiPropertyOptional({ nullable: true }) code!: string | null;
  @ApiPropertyOptional({ nullable: true }) title!: string | null;
  @ApiProperty({ format: 'date-time' }) at!: string;
  @ApiPropertyOptional({ format: 'date-time', nullable: true, description: 'Integration failures asked for with `resolved=include`: when a later success of the delivery resolved it (null: it stands).' })
  resolvedAt?: string | null;
}

export class FailureGroupView {
  @ApiProperty({ enum: ['message', 'integration'] }) kind!: string;
  @ApiProperty({ example: 'rate_limited' }) reason!: string;
  @ApiProperty() count!: number;
  @ApiPropertyOptional({ nullable: true, description: 'True only when every failure of the group is retryable (null for integrations).' })
  retryable!: boolean | null;
  @ApiPropertyOptional({ nullable: true, description: 'How many failures of the group are retryable (null for integrations).' })
  retryableCount!: number | null;
  @ApiProperty({ type: [FailureExampleView] }) latest!: FailureExampleView[];
}

export class FailuresView {
  @ApiProperty({ type: [FailureGroupView] }) groups!: FailureGroupView[];
}
