"""A local stand-in for Azure Resource Manager serving a synthetic, seeded tenant.

tenant = generate_tenant(TenantSpec(seed=42))
with EmulatorServer(tenant) as server:
    ...  # point Azure clients at server.url, trusting server.ca_path
    tenant.truth(["project", "currency"], tenant.history_start, tenant.history_end)
"""

import importlib.util

from collector.extras import MissingExtra

if importlib.util.find_spec("trustme") is None:  # its TLS certificates: the one piece of the `emulator` extra
    raise SystemExit(str(MissingExtra("emulator", "the emulator", ["trustme"])))

from .faults import Faults
from .server import EmulatorServer, serve_forever
from .tenant import Tenant, TenantSpec, generate_tenant

__all__ = ["EmulatorServer", "Faults", "Tenant", "TenantSpec", "generate_tenant", "serve_forever"]
