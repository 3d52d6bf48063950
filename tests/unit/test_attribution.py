"""Attribution rules: mapping, tag, offer match by elimination, a Foundry resource's projects and connections,
and unattributed with candidates."""

from __future__ import annotations

from collector.attribution import (
    MANAGED_COMPUTE_MODEL,
    UNATTRIBUTED,
    FoundryInfo,
    OfferSubscription,
    Project,
    SaasInfo,
    attribute,
    model_name,
)
from collector.settings import AttributionSettings

SUB = "/subscriptions/s1"
RG = f"{SUB}/resourcegroups/rg-hub"
WS = f"{RG}/providers/microsoft.machinelearningservices/workspaces"
OFFER = "meta-llama-3-70b-instruct-offer"
MODEL = "azureml://registries/azureml-meta/models/Meta-Llama-3-70B-Instruct"


def project(name: str, rg: str = "rg-hub") -> Project:
    return Project(
        f"{SUB}/resourcegroups/{rg}/providers/microsoft.machinelearningservices/workspaces/{name}",
        name,
        "s1",
        rg,
    )


def saas(name: str, tags: dict[str, str] | None = None, offer: str = OFFER, rg: str = "rg-hub") -> SaasInfo:
    return SaasInfo(
        f"{SUB}/resourcegroups/{rg}/providers/microsoft.saas/resources/{name}".lower(),
        "s1",
        rg,
        name,
        offer,
        tags or {},
    )


def holds(p: Project, offer: str = OFFER, model: str = MODEL) -> OfferSubscription:
    return OfferSubscription(p.resource_id, offer, model)


def by_id(results):
    return {a.resource_id: a for a in results}


def test_tag_then_elimination_in_a_shared_resource_group() -> None:
    alpha, beta = project("alpha"), project("beta")
    tagged, untagged = saas("a-1", {"costwatch-project": "Alpha"}), saas("a-2")
    out = by_id(attribute([], [alpha, beta], [tagged, untagged], [holds(alpha), holds(beta)], AttributionSettings()))
    assert (out[tagged.resource_id].project, out[tagged.resource_id].rule) == ("alpha", "tag")
    assert (out[untagged.resource_id].project, out[untagged.resource_id].rule) == ("beta", "offer-match")
    assert out[untagged.resource_id].model == "Meta-Llama-3-70B-Instruct"


def test_two_candidates_stay_unattributed_and_are_named() -> None:
    alpha, beta = project("alpha"), project("beta")
    first, second = saas("x-1"), saas("x-2")
    out = by_id(attribute([], [alpha, beta], [first, second], [holds(alpha), holds(beta)], AttributionSettings()))
    for resource in (first, second):
        result = out[resource.resource_id]
        assert result.project == UNATTRIBUTED and result.rule == "ambiguous"
        assert "alpha" in result.detail and "beta" in result.detail
        assert result.model == "Meta-Llama-3-70B-Instruct"  # both hold the same model: still known


def test_mapping_wins_over_tag_and_case_does_not_matter() -> None:
    alpha, beta = project("alpha"), project("beta")
    resource = saas("Mixed-Case", {"COSTWATCH-PROJECT": "alpha"})
    settings = AttributionSettings(resources={resource.resource_id.upper(): "beta"})
    out = by_id(attribute([], [alpha, beta], [resource], [holds(alpha), holds(beta)], settings))
    assert (out[resource.resource_id].project, out[resource.resource_id].rule) == ("beta", "mapping")


def test_projects_in_other_resource_groups_are_not_candidates() -> None:
    here, elsewhere = project("here"), project("elsewhere", rg="rg-other")
    resource = saas("r-1")
    out = by_id(attribute([], [here, elsewhere], [resource], [holds(here), holds(elsewhere)], AttributionSettings()))
    assert out[resource.resource_id].project == "here"


def test_no_candidate_and_unknown_saas_are_kept_as_unattributed() -> None:
    lonely = saas("other-offer-1", offer="mistral-large-offer")
    ghost = f"{RG}/providers/microsoft.saas/resources/cohere-offer-0f8fad5b-d9cb-469f-a165-70867728950e"
    out = by_id(attribute([ghost], [project("alpha")], [lonely], [], AttributionSettings()))
    assert (out[lonely.resource_id].project, out[lonely.resource_id].rule) == (UNATTRIBUTED, "no-candidate")
    assert (out[ghost].project, out[ghost].model) == (UNATTRIBUTED, "cohere-offer")


def test_managed_compute_and_other_spend() -> None:
    alpha = project("alpha")
    endpoint = f"{alpha.resource_id}/onlineendpoints/ep1"
    storage = f"{RG}/providers/microsoft.storage/storageaccounts/logs"
    out = by_id(attribute([endpoint, storage], [alpha], [], [], AttributionSettings()))
    assert (out[endpoint].spend_kind, out[endpoint].project, out[endpoint].model) == (
        "managed_compute",
        "alpha",
        MANAGED_COMPUTE_MODEL,
    )
    assert (out[storage].spend_kind, out[storage].project) == ("other", None)


def test_model_name_from_model_id() -> None:
    assert model_name(MODEL) == "Meta-Llama-3-70B-Instruct"
    assert model_name(MODEL + "/versions/2") == "Meta-Llama-3-70B-Instruct"
    assert model_name("Llama-2-70b-chat") == "Llama-2-70b-chat"
    assert model_name("") == ""


ACCOUNT = f"{RG}/providers/microsoft.cognitiveservices/accounts/oai-shared"


def foundry(projects: tuple[Project, ...] = (), connected: tuple[tuple[Project, str], ...] = ()) -> FoundryInfo:
    return FoundryInfo(ACCOUNT, "oai-shared", "OpenAI", {}, projects, connected)


def test_a_resource_a_hub_project_uses_through_a_connection_is_that_projects() -> None:
    chat = project("proj-chat")
    [a] = attribute(
        [ACCOUNT], [chat], [], [], AttributionSettings(), [foundry(connected=((chat, "its connection aoai"),))]
    )
    assert (a.spend_kind, a.project, a.rule) == ("foundry", "proj-chat", "connection")
    assert a.detail == "only project connected to oai-shared, through its connection aoai"


def test_a_hubs_connection_shared_by_two_projects_stays_unattributed_with_both_named() -> None:
    chat, search = project("proj-chat"), project("proj-search")
    how = "connection aoai of hub hub-prod"
    [a] = attribute(
        [ACCOUNT], [chat, search], [], [], AttributionSettings(), [foundry(connected=((chat, how), (search, how)))]
    )
    assert (a.project, a.rule) == (UNATTRIBUTED, "ambiguous")
    assert "proj-chat (through connection aoai of hub hub-prod), proj-search (through" in a.detail


def test_a_foundry_project_and_a_connected_hub_project_are_two_candidates_and_a_tag_settles_it() -> None:
    own, chat = project("assistant"), project("proj-chat")
    info = foundry(projects=(own,), connected=((chat, "its connection aoai"),))
    [a] = attribute([ACCOUNT], [chat], [], [], AttributionSettings(), [info])
    assert a.rule == "ambiguous" and "assistant, proj-chat (through its connection aoai)" in a.detail
    tagged = FoundryInfo(ACCOUNT, "oai-shared", "OpenAI", {"costwatch-project": "proj-chat"}, (own,), info.connected)
    [b] = attribute([ACCOUNT], [chat], [], [], AttributionSettings(), [tagged])
    assert (b.project, b.rule) == ("proj-chat", "tag")
