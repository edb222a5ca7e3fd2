"""The generated messages, by their proto names: ``v1.StartActionRequest``."""

from ._gen.patchbay.v1.action_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.action_service_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.alert_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.alert_rule_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.alert_service_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.audit_event_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.automation_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.automation_service_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.common_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.connection_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.diagnostics_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.integration_registry_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.integration_type_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.mapping_template_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.notification_channel_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.notification_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.status_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.status_service_pb2 import *  # noqa: F403
from ._gen.patchbay.v1.webhook_delivery_pb2 import *  # noqa: F403
