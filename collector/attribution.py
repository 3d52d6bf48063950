"""Which AI Studio project and model each cost row's resource belongs to.

A serverless deployment's costs land on a Marketplace SaaS resource in the project's resource group,
but AI Studio puts every project of a hub in the hub's resource group: several projects there often
hold the same offer, so the resource group alone cannot tell them apart. The rules, in order:

1. an explicit mapping in settings (`[attribution.resources]` resource ID -> project);
2. the tag `costwatch-project` (key configurable) on the SaaS resource;
3. the projects in the same subscription and resource group that hold a marketplace subscription to
   the resource's offer, less those rules 1-2 already gave another SaaS resource of that offer:
   exactly one left -> that project. The offer is matched by its ID (2018-03-01-beta's offerId, else
   the resource's `<offer>-<GUID>` name; never 2026-04-01's display offerName), and the publisher and
   plan IDs too where both sides have them;
4. otherwise `(unattributed)`: kept, never dropped, with the candidates named so an admin can add a
   tag or a mapping.

Resources under a project workspace's ID (managed compute) belong to that project. A Foundry
resource (Microsoft.CognitiveServices/accounts of kind AIServices or OpenAI) is spend kind `foundry`:
it goes to the project a mapping or its `costwatch-project` tag names (a hub project or a Foundry
project), else to its only project: its only Foundry project, or the only hub project connected to it
(through a connection of the project or of its hub), else it stays unattributed with the reason (its projects
share its deployments, so the bill cannot tell them apart). Its model is per meter, not per resource
(collector.foundry_models). Anything else is not AI spend and is kept apart as `other`.
"Projects" are hub projects and plain Azure ML workspaces
(kind Default), which hold serverless deployments alike (collector.db.models.PROJECT_KINDS).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from collector.foundry_models import NO_MODEL, is_model_account
from collector.settings import AttributionSettings

log = logging.getLogger(__name__)

UNATTRIBUTED = "(unattributed)"
MANAGED_COMPUTE_MODEL = "(managed compute)"
_SAAS_SEGMENT = "/providers/microsoft.saas/resources/"
_FOUNDRY_SEGMENT = "/providers/microsoft.cognitiveservices/accounts/"
_GUID_SUFFIX = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


@dataclass(frozen=True)
class Project:
    resource_id: str
    name: str
    subscription_id: str
    resource_group: str


@dataclass(frozen=True)
class SaasInfo:
    resource_id: str
    subscription_id: str
    resource_group: str
    name: str
    offer: str  # the offer's ID; "" when Azure's answer did not give it
    tags: dict[str, str]
    offer_source: str = ""  # which property gave the offer ID (collector.sources.inventory.OFFER_FROM_*)
    publisher: str = ""  # publisher and plan IDs, "" when unknown
    plan: str = ""


@dataclass(frozen=True)
class OfferSubscription:
    """A project's marketplace subscription to an offer."""

    workspace_id: str
    offer_id: str
    model_id: str
    publisher_id: str = ""
    plan_id: str = ""

    def matches(self, saas: SaasInfo) -> bool:
        """Same offer ID, and the same publisher and plan wherever both sides name them."""
        return (
            bool(saas.offer)
            and self.offer_id.lower() == saas.offer.lower()
            and all(
                not a or not b or a.lower() == b.lower()
                for a, b in ((self.publisher_id, saas.publisher), (self.plan_id, saas.plan))
            )
        )


@dataclass(frozen=True)
class FoundryInfo:
    """A Cognitive Services account of the inventory, with its Foundry projects."""

    resource_id: str
    name: str
    kind: str  # AIServices | OpenAI: a Foundry resource; any other kind is not a model deployment's
    tags: dict[str, str]
    projects: tuple[Project, ...] = ()
    # The hub projects that use it through a connection of their own or of their hub, each with how
    # ("connection aoai of hub hub-prod").
    connected: tuple[tuple[Project, str], ...] = ()


def foundry_account(resource_id: str) -> str | None:
    """The Cognitive Services account a cost row's resource ID is, or is under; None for other resources."""
    at = resource_id.find(_FOUNDRY_SEGMENT)
    if at < 0:
        return None
    name = resource_id[at + len(_FOUNDRY_SEGMENT) :].split("/", 1)[0]
    return resource_id[: at + len(_FOUNDRY_SEGMENT)] + name


@dataclass(frozen=True)
class Attribution:
    resource_id: str
    spend_kind: str  # marketplace | foundry | managed_compute | other
    project_id: str | None
    project: str | None
    model: str | None
    # mapping | tag | offer-match | only-project | connection | ambiguous | no-candidate | not-in-inventory |
    # workspace | not-ai
    rule: str
    detail: str = ""


def model_name(model_id: str) -> str:
    """'azureml://registries/azureml-meta/models/Meta-Llama-3-70B-Instruct/versions/2' -> the model's name."""
    parts = [p for p in model_id.split("/") if p]
    if "models" in parts and parts.index("models") + 1 < len(parts):
        return parts[parts.index("models") + 1]
    return parts[-1] if parts else ""


def offer_from_name(saas_name: str) -> str:
    return _GUID_SUFFIX.sub("", saas_name)


def attribute(
    resource_ids: Iterable[str],
    projects: Iterable[Project],
    saas: Iterable[SaasInfo],
    offer_subscriptions: Iterable[OfferSubscription],
    settings: AttributionSettings,
    foundry: Iterable[FoundryInfo] = (),
) -> list[Attribution]:
    """Attribute every given resource ID (lower-case) and every known SaaS resource."""
    accounts = {a.resource_id: a for a in foundry}
    project_list = [*projects, *(p for a in accounts.values() for p in a.projects)]
    by_id = {p.resource_id: p for p in project_list}
    by_name = {p.name.lower(): p for p in project_list}
    saas_by_id = {s.resource_id: s for s in saas}
    # project workspace ID -> its subscriptions to model offers
    holds: dict[str, list[OfferSubscription]] = defaultdict(list)
    for sub in offer_subscriptions:
        if sub.workspace_id in by_id:
            holds[sub.workspace_id].append(sub)

    explicit = {rid: _explicit(rid, info.tags, settings, by_name) for rid, info in saas_by_id.items()}
    claimed: dict[str, set[str]] = defaultdict(set)  # offer -> projects that rules 1-2 gave a resource of it
    for rid, found in explicit.items():
        if found is not None:
            claimed[saas_by_id[rid].offer.lower()].add(found[0].resource_id)

    out: list[Attribution] = []
    for rid in sorted(set(resource_ids) | set(saas_by_id)):
        info = saas_by_id.get(rid)
        if info is not None:
            out.append(_attribute_saas(info, explicit[rid], project_list, holds, claimed))
        elif (account_id := foundry_account(rid)) is not None:
            out.append(_attribute_foundry(rid, accounts.get(account_id), settings, by_name))
        elif _SAAS_SEGMENT in rid:
            offer = offer_from_name(rid.rsplit("/", 1)[-1])
            out.append(
                Attribution(
                    rid,
                    "marketplace",
                    None,
                    UNATTRIBUTED,
                    offer,
                    "not-in-inventory",
                    "SaaS resource not found in the inventory (deleted, or its subscription not listed)",
                )
            )
        else:
            out.append(_attribute_other(rid, by_id))
    return out


def _explicit(
    resource_id: str, resource_tags: dict[str, str], settings: AttributionSettings, by_name: dict[str, Project]
) -> tuple[Project, str] | None:
    """Rules 1-2: the project named by the settings mapping or by the resource's tag."""
    tags = {k.lower(): v for k, v in resource_tags.items()}
    for rule, name in (
        ("mapping", settings.resources.get(resource_id)),
        ("tag", tags.get(settings.tag_key.lower())),
    ):
        if not name:
            continue
        project = by_name.get(name.strip().lower())
        if project is None:
            log.warning(
                "attribution: %s of %s names project %r, which is not in the inventory; ignored",
                rule,
                resource_id,
                name,
            )
            continue
        return project, rule
    return None


def _held(project: Project, info: SaasInfo, holds: dict[str, list[OfferSubscription]]) -> OfferSubscription | None:
    """The project's marketplace subscription to the SaaS resource's offer, if it holds one."""
    return next((sub for sub in holds.get(project.resource_id, ()) if sub.matches(info)), None)


def _attribute_saas(
    info: SaasInfo,
    explicit: tuple[Project, str] | None,
    projects: list[Project],
    holds: dict[str, list[OfferSubscription]],
    claimed: dict[str, set[str]],
) -> Attribution:
    shown = info.offer or info.name  # what the model column shows when no subscription names the model
    if explicit is not None:
        project, rule = explicit
        held = _held(project, info, holds)
        model = (model_name(held.model_id) if held else "") or shown
        return Attribution(info.resource_id, "marketplace", project.resource_id, project.name, model, rule)
    fix = "tag the SaaS resource with the project's name or map it in [attribution.resources]"
    if not info.offer:
        detail = f"Azure gave no offer ID for {info.name} (no offerId, and the name is not '<offer>-<GUID>'); {fix}"
        return Attribution(info.resource_id, "marketplace", None, UNATTRIBUTED, shown, "no-candidate", detail)
    candidates = {
        p.resource_id: (p, held)
        for p in projects
        if p.subscription_id == info.subscription_id
        and p.resource_group == info.resource_group
        and (held := _held(p, info, holds)) is not None
    }
    left = [(p, held) for p, held in candidates.values() if p.resource_id not in claimed[info.offer.lower()]]
    if len(left) == 1:
        project, held = left[0]
        detail = (
            f"only project in {info.resource_group} holding offer {info.offer} "
            f"(offer ID from the {info.offer_source or 'inventory'})"
        )
        return Attribution(
            info.resource_id,
            "marketplace",
            project.resource_id,
            project.name,
            model_name(held.model_id) or shown,
            "offer-match",
            detail,
        )
    models = {model_name(held.model_id) for _p, held in candidates.values()} - {""}
    model = models.pop() if len(models) == 1 else shown
    if left:
        names = ", ".join(sorted(p.name for p, _held in left))
        detail = f"{len(left)} projects in resource group {info.resource_group} hold offer {info.offer}: {names}; {fix}"
        return Attribution(info.resource_id, "marketplace", None, UNATTRIBUTED, model, "ambiguous", detail)
    detail = f"no project in resource group {info.resource_group} holds offer {info.offer}; {fix}"
    return Attribution(info.resource_id, "marketplace", None, UNATTRIBUTED, model, "no-candidate", detail)


def _attribute_foundry(
    resource_id: str, account: FoundryInfo | None, settings: AttributionSettings, by_name: dict[str, Project]
) -> Attribution:
    """A Cognitive Services account's costs: a Foundry resource's go to its project (see the module)."""
    if account is None:
        detail = (
            "Cognitive Services account not in the inventory (deleted, or its subscription not listed); "
            "counted as Foundry spend until it is seen"
        )
        return Attribution(resource_id, "foundry", None, UNATTRIBUTED, NO_MODEL, "not-in-inventory", detail)
    if not is_model_account(account.kind):
        return Attribution(resource_id, "other", None, None, None, "not-ai", f"Cognitive Services kind {account.kind}")
    explicit = _explicit(account.resource_id, account.tags, settings, by_name)
    if explicit is not None:
        project, rule = explicit
        return Attribution(resource_id, "foundry", project.resource_id, project.name, NO_MODEL, rule)
    fix = "tag the Foundry resource with the project's name or map it in [attribution.resources]"
    # Its own Foundry projects and the hub projects connected to it: one of them all is the owner.
    candidates = {p.resource_id: (p, "") for p in account.projects}  # its own: no "how"
    for project, how in account.connected:
        candidates.setdefault(project.resource_id, (project, how))
    if len(candidates) == 1:
        [(project, how)] = candidates.values()
        rule, detail = (
            ("connection", f"only project connected to {account.name}, through {how}")
            if how
            else ("only-project", f"only project of Foundry resource {account.name}")
        )
        return Attribution(resource_id, "foundry", project.resource_id, project.name, NO_MODEL, rule, detail)
    if candidates:
        names = ", ".join(sorted(f"{p.name} (through {how})" if how else p.name for p, how in candidates.values()))
        detail = f"{len(candidates)} projects share Foundry resource {account.name} and its deployments: {names}; {fix}"
        return Attribution(resource_id, "foundry", None, UNATTRIBUTED, NO_MODEL, "ambiguous", detail)
    detail = f"{account.kind} resource {account.name} has no project and no tag; {fix}"
    return Attribution(resource_id, "foundry", None, UNATTRIBUTED, NO_MODEL, "no-candidate", detail)


def _attribute_other(resource_id: str, projects: dict[str, Project]) -> Attribution:
    """Resources under a project workspace are its managed compute; the rest is not AI spend."""
    parts = resource_id.split("/")
    # /subscriptions/s/resourcegroups/rg/providers/microsoft.machinelearningservices/workspaces/name/...
    workspace_id = "/".join(parts[:9])
    project = projects.get(workspace_id)
    if project is not None and "microsoft.machinelearningservices" in resource_id:
        return Attribution(
            resource_id,
            "managed_compute",
            project.resource_id,
            project.name,
            MANAGED_COMPUTE_MODEL,
            "workspace",
        )
    return Attribution(resource_id, "other", None, None, None, "not-ai")
