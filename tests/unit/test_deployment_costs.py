"""A Foundry deployment's cost: the bill names a model and a deployment type, never a deployment."""

from __future__ import annotations

from decimal import Decimal

from collector.read.deployment_costs import FoundryDeployment, deployment_costs

ACCOUNT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/aif"


def _deployment(name: str, model: str, sku: str) -> FoundryDeployment:
    return FoundryDeployment(f"{ACCOUNT}/deployments/{name}", name, ACCOUNT, model, sku)


def test_a_deployment_alone_of_its_model_and_type_has_its_own_cost() -> None:
    deployments = [
        _deployment("chat", "gpt-4o", "GlobalStandard"),
        _deployment("chat-eu", "gpt-4o", "DataZoneStandard"),
        _deployment("chat-b", "gpt-4o", "DataZoneStandard"),
        _deployment("ptu", "gpt-4o", "GlobalProvisionedManaged"),
        _deployment("ptu-mini", "gpt-4o-mini", "GlobalProvisionedManaged"),
    ]
    account = ACCOUNT.lower()
    rows = [
        (account, "gpt-4o", "gpt-4o-1120-Inp-glbl Tokens", "USD", Decimal("10.5")),
        (account, "gpt-4o", "gpt-4o-1120-Outp-glbl Tokens", "USD", Decimal("4")),
        (account, "gpt-4o", "gpt-4o-1120-Inp-DZone Tokens", "USD", Decimal("3")),
        (account, "(PTUs of gpt-4o, gpt-4o-mini)", "Provisioned Managed Global Unit", "USD", Decimal("720")),
        (account, "gpt-4o-mini", "S1 Transactions", "USD", Decimal("99")),  # no deployment type: no deployment's
    ]
    costs = deployment_costs(deployments, rows)
    chat = costs[f"{account}/deployments/chat"]
    assert (chat.costs, chat.shared_with) == ({"USD": Decimal("14.5")}, ())
    # Two data-zone deployments of gpt-4o: one figure, each naming the other.
    eu = costs[f"{account}/deployments/chat-eu"]
    assert (eu.costs, eu.shared_with) == ({"USD": Decimal("3")}, ("chat-b",))
    # PTU hours are billed per type, whatever the model: both provisioned deployments share them.
    ptu = costs[f"{account}/deployments/ptu"]
    assert (ptu.costs, ptu.shared_with) == ({"USD": Decimal("720")}, ("ptu-mini",))


def test_a_deployment_without_rows_costs_nothing_stated() -> None:
    (cost,) = deployment_costs([_deployment("idle", "gpt-4o", "GlobalStandard")], []).values()
    assert (cost.costs, cost.shared_with) == ({}, ())
