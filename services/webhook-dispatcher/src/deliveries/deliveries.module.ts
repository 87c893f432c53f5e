import { Module } from '@nestjs/common';
import { IntegrationsModule } from '../integrations/integrations.module';
import { DeliveriesController } from './deliveries.controller';
import { DeliveriesService } from './deliveries.service';
import { DeliveriesSignal } from './deliveries-signal.service';
import { DeliverySender } from './delivery-sender.service';
import { DeliveryWorker } from './delivery-worker.service';
import { WsdlController } from '../soap/wsdl.controller';
import { WsdlService } from '../soap/wsdl.service';
import { EventsConsumer } from './events.consumer';

@Module({
  imports: [IntegrationsModule],
  controllers: [DeliveriesController, WsdlController],
  providers: [WsdlService, DeliverySender, DeliveryWorker, EventsConsumer, DeliveriesService, DeliveriesSignal],
})
export class DeliveriesModule {}
