"""A local stand-in for Azure Resource Manager serving a synthetic, seeded tenant.

tenant = generate_tenant(TenantSpec(seed=42))
with EmulatorServer(tenant) as server:
    ...  # point Azure clients at server.url, trusting server.ca_path
    tenant.truth(["project", "currency"], tenant.history_start, tenant.history_end)
"""

from .faults import Faults
from .server import EmulatorServer, serve_forever
from .tenant import Tenant, TenantSpec, generate_tenant

__all__ = ["EmulatorServer", "Faults", "Tenant", "TenantSpec", "generate_tenant", "serve_forever"]
