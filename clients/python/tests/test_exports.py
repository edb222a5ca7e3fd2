"""`patchbay_client.v1` names every message and enum the protos define, so a
new proto file is never left out of it."""

from __future__ import annotations

import importlib
import pkgutil

from patchbay_client import v1
from patchbay_client._gen.patchbay import v1 as generated


def test_v1_exports_every_generated_message_and_enum() -> None:
    missing = []
    for module in pkgutil.iter_modules(generated.__path__):
        if not module.name.endswith("_pb2"):
            continue
        pb2 = importlib.import_module(f"{generated.__name__}.{module.name}")
        names = [*pb2.DESCRIPTOR.message_types_by_name, *pb2.DESCRIPTOR.enum_types_by_name]
        missing += [f"{module.name}.{name}" for name in names if not hasattr(v1, name)]
    assert missing == []
    assert v1.AlertSeverity.Value("ALERT_SEVERITY_CRITICAL") == 1
    assert v1.Alert.DESCRIPTOR.full_name == "patchbay.v1.Alert"
