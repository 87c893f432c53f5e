import { IsInt, IsNotEmpty, IsOptional, IsString, IsUUID, Min } from 'class-validator';

class CallEvent {
  @IsString() @IsNotEmpty() callId!: string;
  @IsUUID() profileId!: string;
  @IsString() @IsNotEmpty() ramal!: string;
  @IsOptional() @IsString() telefone?: string;
}

export class CallAnswered extends CallEvent {
  /** The contact's id in the CRM (`pid`). */
  @IsOptional() @IsString() contactId?: string;
  @IsOptional() @IsString() empresaId?: string;
}

export class CallStarted extends CallEvent {}

export class CallEnded extends CallEvent {
  @IsOptional() @IsInt() @Min(0) durationSeconds?: number;
  @IsOptional() @IsString() disposition?: string;
  @IsOptional() @IsString() empresaId?: string;
}
