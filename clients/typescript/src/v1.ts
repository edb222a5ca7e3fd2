// The generated messages and services, by their proto names.

export * from "./gen/patchbay/v1/action_pb.js";
export * from "./gen/patchbay/v1/action_service_pb.js";
export * from "./gen/patchbay/v1/alert_pb.js";
export * from "./gen/patchbay/v1/alert_rule_pb.js";
export * from "./gen/patchbay/v1/alert_service_pb.js";
export * from "./gen/patchbay/v1/audit_event_pb.js";
export * from "./gen/patchbay/v1/automation_pb.js";
export * from "./gen/patchbay/v1/automation_service_pb.js";
export * from "./gen/patchbay/v1/common_pb.js";
export * from "./gen/patchbay/v1/connection_pb.js";
export * from "./gen/patchbay/v1/diagnostics_pb.js";
export * from "./gen/patchbay/v1/integration_registry_pb.js";
export * from "./gen/patchbay/v1/integration_type_pb.js";
export * from "./gen/patchbay/v1/mapping_template_pb.js";
export * from "./gen/patchbay/v1/notification_channel_pb.js";
export * from "./gen/patchbay/v1/notification_pb.js";
export * from "./gen/patchbay/v1/status_pb.js";
export * from "./gen/patchbay/v1/status_service_pb.js";
export * from "./gen/patchbay/v1/webhook_delivery_pb.js";
