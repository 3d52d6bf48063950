"""Cost per million tokens per offer, and provisioned throughput against Foundry standard: what a
platform team reads before buying or returning PTUs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from dashboard.figures import TokenUsage, TrafficDay, compare_provisioned, token_usage

DAY = date(2026, 11, 24)
GLOBAL_PTU, DZ_PTU = "GlobalProvisionedManaged", "DataZoneProvisionedManaged"


def _usage(project: str, offer: str, tokens: int, cost: str | None, currency: str = "USD") -> TokenUsage:
    return TokenUsage(
        project,
        "gpt-4o",
        ("d",),
        currency if cost is not None else None,
        (DAY,),
        tokens,
        0,
        tokens,
        None if cost is None else Decimal(cost),
        0,
        offer=offer,
    )


def test_a_model_is_measured_per_offer_and_never_mixed() -> None:
    traffic = [
        TrafficDay("gpt-4o", "assistant", "gpt-4o", DAY, 900, 100, 1_000_000, 10, 1440, 5, "GlobalStandard"),
        TrafficDay("gpt-4o-ptu", "assistant", "gpt-4o", DAY, 400, 100, 500_000, 5, 1440, 5, GLOBAL_PTU),
    ]
    spend = {
        ("assistant", "gpt-4o", "GlobalStandard", DAY): {"USD": Decimal("10")},
        ("assistant", "gpt-4o", GLOBAL_PTU, DAY): {"USD": Decimal("360")},
    }
    by_offer = {u.offer: u for u in token_usage(traffic, spend, DAY)}
    assert by_offer["GlobalStandard"].cost_per_million == 10 and not by_offer["GlobalStandard"].provisioned
    assert by_offer[GLOBAL_PTU].cost_per_million == 720 and by_offer[GLOBAL_PTU].provisioned


def test_ptus_that_cost_more_than_standard_say_so_with_their_break_even() -> None:
    ptu = _usage("assistant", GLOBAL_PTU, 10_000_000, "360")  # 15 PTUs x 24 h x USD 1.00
    standard = [_usage("assistant", "GlobalStandard", 50_000_000, "500")]  # USD 10 per million
    c = compare_provisioned(ptu, [ptu, *standard])
    assert (c.cost_per_million, c.standard_per_million, c.standard_offer) == (36, 10, "GlobalStandard")
    assert c.standard_per_month == Decimal(100) * 730 / 24 and c.provisioned_per_month == Decimal(360) * 730 / 24
    assert c.breakeven_tokens_per_day == 36_000_000 and c.breakeven_multiple == Decimal("3.6")
    assert c.verdict.startswith("standard would cost less") and "3.6x today's traffic" in c.verdict


def test_busy_ptus_cost_less_than_the_same_tokens_on_standard() -> None:
    ptu = _usage("assistant", GLOBAL_PTU, 50_000_000, "360")
    c = compare_provisioned(ptu, [_usage("chatbot", "GlobalStandard", 1_000_000, "10")])
    assert c.verdict.startswith("provisioned costs less") and c.breakeven_multiple == Decimal("0.72")


def test_standard_of_the_same_data_boundary_prices_the_tokens_first() -> None:
    ptu = _usage("assistant", DZ_PTU, 10_000_000, "396")
    peers = [_usage("a", "GlobalStandard", 1_000_000, "10"), _usage("b", "DataZoneStandard", 1_000_000, "11")]
    c = compare_provisioned(ptu, peers)
    assert (c.standard_offer, c.standard_per_million) == ("DataZoneStandard", 11)
    other = compare_provisioned(ptu, peers[:1])  # no data-zone standard use: the global one
    assert (other.standard_offer, other.standard_per_million) == ("GlobalStandard", 10)


def test_what_is_missing_is_said_instead_of_guessed() -> None:
    ptu = _usage("assistant", GLOBAL_PTU, 10_000_000, "360")
    assert "no Foundry standard traffic of gpt-4o with spend in USD" in compare_provisioned(ptu, []).verdict
    in_eur = [_usage("a", "GlobalStandard", 1_000_000, "9", currency="EUR")]
    assert compare_provisioned(ptu, in_eur).standard_per_million is None, "never priced in another currency"
    unbilled = TokenUsage(
        "assistant", "gpt-4o", ("d",), None, (DAY,), 1, 0, 1, None, 0, "no spend attributed", GLOBAL_PTU
    )
    assert compare_provisioned(unbilled, []).verdict == "not compared: no spend attributed"
