// The six services behind the call policy, with page iterators and a
// resuming watch(); transports come from ./node.ts (gRPC) and ./web.ts
// (gRPC-Web).

import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { type Client, createClient, type Transport } from "@connectrpc/connect";

import { ActionService, ListActionsRequestSchema } from "./gen/patchbay/v1/action_service_pb.js";
import type { Action } from "./gen/patchbay/v1/action_pb.js";
import { AlertService } from "./gen/patchbay/v1/alert_service_pb.js";
import { AutomationService } from "./gen/patchbay/v1/automation_service_pb.js";
import type { AuditEvent } from "./gen/patchbay/v1/audit_event_pb.js";
import type { Connection } from "./gen/patchbay/v1/connection_pb.js";
import {
  Diagnostics,
  ListAuditEventsRequestSchema,
  ListWebhookDeliveriesRequestSchema,
} from "./gen/patchbay/v1/diagnostics_pb.js";
import {
  IntegrationRegistry,
  ListConnectionsRequestSchema,
  ListIntegrationTypesRequestSchema,
  ListMappingTemplatesRequestSchema,
} from "./gen/patchbay/v1/integration_registry_pb.js";
import type { IntegrationType } from "./gen/patchbay/v1/integration_type_pb.js";
import type { MappingTemplate } from "./gen/patchbay/v1/mapping_template_pb.js";
import type { StatusUpdate } from "./gen/patchbay/v1/status_pb.js";
import { StatusService } from "./gen/patchbay/v1/status_service_pb.js";
import type { WebhookDelivery } from "./gen/patchbay/v1/webhook_delivery_pb.js";
import { type Resync, watch, type WatchOptions } from "./watch.js";

interface Paged {
  readonly pageToken: string;
}

/** Every item of a List method, following `nextPageToken`. */
export async function* paged<Req extends Paged, Res extends { nextPageToken: string }, T>(
  call: (request: Req) => Promise<Res>,
  request: Req,
  items: (response: Res) => readonly T[],
): AsyncGenerator<T> {
  let next = request;
  for (;;) {
    const response = await call(next);
    yield* items(response);
    if (response.nextPageToken === "") {
      return;
    }
    next = { ...next, pageToken: response.nextPageToken };
  }
}

export interface ListOptions {
  readonly filter?: string;
  readonly pageSize?: number;
}

function projectName(project: string): string {
  return project.startsWith("projects/") ? project : `projects/${project}`;
}

function request<D extends DescMessage>(schema: D, init: MessageInitShape<D>): MessageShape<D> {
  return create(schema, init);
}

export class PatchbayClient {
  readonly registry: Client<typeof IntegrationRegistry>;
  readonly status: Client<typeof StatusService>;
  readonly actions: Client<typeof ActionService>;
  readonly diagnostics: Client<typeof Diagnostics>;
  readonly alerts: Client<typeof AlertService>;
  readonly automations: Client<typeof AutomationService>;

  constructor(transport: Transport) {
    this.registry = createClient(IntegrationRegistry, transport);
    this.status = createClient(StatusService, transport);
    this.actions = createClient(ActionService, transport);
    this.diagnostics = createClient(Diagnostics, transport);
    this.alerts = createClient(AlertService, transport);
    this.automations = createClient(AutomationService, transport);
  }

  listIntegrationTypes(options: { query?: string; pageSize?: number } = {}): AsyncGenerator<IntegrationType> {
    return paged(
      (r) => this.registry.listIntegrationTypes(r),
      request(ListIntegrationTypesRequestSchema, { ...options }),
      (r) => r.integrationTypes,
    );
  }

  listConnections(project: string, options: ListOptions = {}): AsyncGenerator<Connection> {
    return paged(
      (r) => this.registry.listConnections(r),
      request(ListConnectionsRequestSchema, { parent: projectName(project), ...options }),
      (r) => r.connections,
    );
  }

  listMappingTemplates(project: string, options: ListOptions = {}): AsyncGenerator<MappingTemplate> {
    return paged(
      (r) => this.registry.listMappingTemplates(r),
      request(ListMappingTemplatesRequestSchema, { parent: projectName(project), ...options }),
      (r) => r.mappingTemplates,
    );
  }

  listActions(project: string, options: ListOptions = {}): AsyncGenerator<Action> {
    return paged(
      (r) => this.actions.listActions(r),
      request(ListActionsRequestSchema, { parent: projectName(project), ...options }),
      (r) => r.actions,
    );
  }

  listWebhookDeliveries(connection: string, options: ListOptions = {}): AsyncGenerator<WebhookDelivery> {
    return paged(
      (r) => this.diagnostics.listWebhookDeliveries(r),
      request(ListWebhookDeliveriesRequestSchema, { parent: connection, ...options }),
      (r) => r.deliveries,
    );
  }

  /** The project's audit log, newest first (`"-"`: every project's). */
  listAuditEvents(project: string, options: ListOptions = {}): AsyncGenerator<AuditEvent> {
    return paged(
      (r) => this.diagnostics.listAuditEvents(r),
      request(ListAuditEventsRequestSchema, { parent: projectName(project), ...options }),
      (r) => r.auditEvents,
    );
  }

  /** Status updates, resumed across failures; see ./watch.ts. */
  watch(project: string, options: WatchOptions = {}): AsyncGenerator<StatusUpdate | Resync> {
    return watch(this.status, project, options);
  }
}
