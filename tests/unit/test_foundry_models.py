"""The model and token kind of Foundry meters, on meter names as Azure writes them (public cost exports
and retail price sheets: "gpt-4o-mini-0718-Inp-glbl Tokens", "gpt 4o 0513 Input global Tokens",
"gpt 4o 1120 cached Inp glbl", "gpt-35-turbo-4k-Input-regional", "R1 Outp glbl Tokens",
"gpt-4-8K-Batch-Inp-glbl Tokens")."""

from __future__ import annotations

import pytest

from collector.foundry_models import NO_MODEL, meter_sku, model_of_meter
from collector.units import token_type

DEPLOYED = ["gpt-4o", "gpt-4o-mini", "DeepSeek-R1", "Llama-3.3-70B-Instruct"]


@pytest.mark.parametrize(
    ("meter", "model", "kind"),
    [
        ("gpt-4o-mini-0718-Inp-glbl Tokens", "gpt-4o-mini", "input"),  # the longest deployed name wins
        ("gpt 4o 0513 Input global Tokens", "gpt-4o", "input"),  # spaces for dashes
        ("gpt 4o 1120 cached Inp glbl", "gpt-4o", "cached input"),
        ("gpt-4o-mini-0718-Outp-DZone Tokens", "gpt-4o-mini", "output"),
        ("R1 Outp glbl Tokens", "DeepSeek-R1", "output"),  # the model without its vendor
        ("Llama-3.3-70B-Instruct-Inp-glbl Tokens", "Llama-3.3-70B-Instruct", "input"),
        # not deployed on the resource: the meter's own words before its version, never another model
        ("gpt-35-turbo-4k-Input-regional", "gpt-35-turbo-4k", "input"),
        ("gpt-4-8K-Batch-Inp-glbl Tokens", "gpt-4-8k", "input"),
        ("S1 Transactions", NO_MODEL, ""),  # no token word: not a model's meter
    ],
)
def test_a_meter_names_its_model_and_token_kind(meter: str, model: str, kind: str) -> None:
    assert model_of_meter(meter, DEPLOYED) == model
    assert token_type(meter) == kind


def test_marketplace_meters_keep_their_token_kinds() -> None:
    assert token_type("Meta-Llama-3-70B-Instruct - paygo-inference-input-tokens") == "input"
    assert token_type("Meta-Llama-3-70B-Instruct - paygo-inference-output-tokens") == "output"
    assert token_type("Meta-Llama-3-70B-Instruct - fine-tuned-hosting") == ""


# Provisioned throughput: one meter per deployment type, per PTU and hour, naming no model (the Azure
# Reservation product names of Learn's provisioned-throughput onboarding page; the retail prices
# list "Provisioned Managed Global Unit").
PROVISIONED = {"GlobalProvisionedManaged": ["gpt-4o"], "DataZoneProvisionedManaged": ["gpt-4o", "gpt-4o-mini"]}


@pytest.mark.parametrize(
    ("meter", "model"),
    [
        ("Provisioned Managed Global Unit", "gpt-4o"),  # the one model holding the type's PTUs
        ("Provisioned Managed Data Zone Unit", "(PTUs of gpt-4o, gpt-4o-mini)"),  # the bill does not split them
        ("Provisioned Managed Regional Unit", NO_MODEL),  # no regional provisioned deployment
    ],
)
def test_a_ptu_meter_is_the_model_of_its_provisioned_deployments(meter: str, model: str) -> None:
    assert model_of_meter(meter, DEPLOYED, PROVISIONED) == model


@pytest.mark.parametrize(
    ("meter", "sku"),
    [
        ("gpt-4o-mini-0718-Inp-glbl Tokens", "GlobalStandard"),
        ("gpt 4o 0513 Input global Tokens", "GlobalStandard"),
        ("gpt-4o-mini-0718-Outp-DZone Tokens", "DataZoneStandard"),
        ("gpt-35-turbo-4k-Input-regional", "Standard"),
        ("gpt-4-8K-Batch-Inp-glbl Tokens", "GlobalBatch"),
        ("Provisioned Managed Global Unit", "GlobalProvisionedManaged"),
        ("Provisioned Managed Regional Unit", "ProvisionedManaged"),
        ("S1 Transactions", ""),
    ],
)
def test_a_meter_names_its_deployment_type(meter: str, sku: str) -> None:
    assert meter_sku(meter) == sku
