import { IsIn, IsInt, IsISO8601, IsNotEmpty, IsObject, IsOptional, IsString, IsUUID } from 'class-validator';

export class IntegrationRequested {
  /** Correlates the outcome event with the bot flow step that asked. */
  @IsUUID() requestId!: string;
  /** The integration's id or its unique name within the tenant. */
  @IsString() @IsNotEmpty() integration!: string;
  @IsOptional() @IsUUID() conversationId?: string;
  @IsOptional() @IsUUID() channelId?: string;
  /** Values the templates can use: contact attributes, collected answers, the last message. */
  @IsObject() context!: Record<string, unknown>;
  /** When the requester stops waiting for the outcome (ISO 8601): a run not started by then is not sent. */
  @IsOptional() @IsISO8601() deadline?: string;
}

export class IntegrationDeliveryOutcome {
  @IsUUID() deliveryId!: string;
  @IsUUID() integrationId!: string;
  @IsString() integrationName!: string;
  /** The event that triggered the delivery. */
  @IsString() eventId!: string;
  @IsString() eventType!: string;
  @IsOptional() @IsUUID() requestId?: string;
  @IsOptional() @IsUUID() conversationId?: string;
  @IsIn(['succeeded', 'failed']) outcome!: 'succeeded' | 'failed';
  @IsOptional() @IsInt() httpStatus?: number;
  /** Response turned into JSON (SOAP responses too), for reply mapping and bot flow branches. */
  @IsOptional() response?: unknown;
  @IsOptional() @IsString() errorClass?: string;
  @IsOptional() @IsString() error?: string;
  @IsInt() attempts!: number;
  /** The mapped reply text, when the integration has a reply template. */
  @IsOptional() @IsString() reply?: string;
}

export class IntegrationDeliverySucceeded extends IntegrationDeliveryOutcome {}
export class IntegrationDeliveryFailed extends IntegrationDeliveryOutcome {}

/** An integration was switched off by the dispatcher itself (not by an admin); admins see the reason on it. */
export class IntegrationDisabled {
  @IsUUID() integrationId!: string;
  @IsString() integrationName!: string;
  /** `failing`: no success for the integration's configured period; `gone`: the endpoint answered 410. */
  @IsIn(['failing', 'gone']) cause!: 'failing' | 'gone';
  /** The text shown on the integration as its `disabledReason`. */
  @IsString() @IsNotEmpty() reason!: string;
  /** When the integration started failing (ISO time), for `failing`. */
  @IsOptional() @IsString() failingSince?: string;
}
