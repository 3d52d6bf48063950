"""The dependency audit's verdicts, without the network.

The audit is fed PyPI project JSON recorded into tests/data/pypi/ (trimmed to the keys it reads); the
live audit is `./dev audit`, run by `./dev test`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tools import audit
from tools.audit import Finding, NotOnIndex, Status, Unreachable

RECORDED = Path(__file__).parents[1] / "data" / "pypi"


def recorded(name: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads((RECORDED / f"{name}.json").read_text())
    return answer


# -- the audit's verdict on one pin ----------------------------------------------------------------


def test_latest_release_without_vulnerability_is_clean() -> None:
    assert audit.assess("requests", "2.34.2", recorded("requests")) == Finding("requests", "2.34.2", Status.CLEAN)


def test_latest_release_with_vulnerabilities_fails_with_id_and_fix() -> None:
    finding = audit.assess("pycrypto", "2.6.1", recorded("pycrypto"))
    assert finding.status is Status.VULNERABLE
    assert {v.id for v in finding.vulnerabilities} >= {"PYSEC-2017-94", "PYSEC-2018-97"}
    first = next(v for v in finding.vulnerabilities if v.id == "PYSEC-2017-94")
    assert first.describe().startswith("PYSEC-2017-94 (CVE-2013-7459, GHSA-cq27-v7xp-c356): no fixed release")


def test_one_flaw_under_two_advisories_is_one_vulnerability() -> None:
    # Recorded: ecdsa's latest release lists CVE-2024-23342 as both PYSEC-2026-1325 and GHSA-wj6h-64fc-37mp.
    finding = audit.assess("ecdsa", "0.19.2", recorded("ecdsa"))
    assert [v.id for v in finding.vulnerabilities] == ["PYSEC-2026-1325"]
    assert finding.vulnerabilities[0].aliases == ("CVE-2024-23342", "GHSA-wj6h-64fc-37mp")


def test_fixed_in_and_withdrawn() -> None:
    answer = recorded("ecdsa")
    answer["vulnerabilities"][0]["fixed_in"] = ["0.20.0", "0.19.10"]
    answer["vulnerabilities"][1]["withdrawn"] = "2026-01-01T00:00:00Z"
    (vulnerability,) = audit.assess("ecdsa", "0.19.2", answer).vulnerabilities
    assert vulnerability.fixed_in == ("0.19.10", "0.20.0")
    assert "fixed in 0.19.10, 0.20.0" in vulnerability.describe()
    for entry in answer["vulnerabilities"]:
        entry["withdrawn"] = "2026-01-01T00:00:00Z"
    assert audit.assess("ecdsa", "0.19.2", answer).status is Status.CLEAN


def test_older_release_is_not_checked_rather_than_clean() -> None:
    # requests 2.31.0 has a known vulnerability (CVE-2024-35195) that the latest release's list no longer names.
    finding = audit.assess("requests", "2.31.0", recorded("requests"))
    assert finding.status is Status.OUTDATED
    assert "latest release 2.34.2 only" in finding.reason and "--upgrade-package requests" in finding.reason


def test_older_release_names_what_the_latest_has() -> None:
    finding = audit.assess("ecdsa", "0.19.1", recorded("ecdsa"))
    assert finding.status is Status.OUTDATED and "(which has PYSEC-2026-1325)" in finding.reason


def test_yanked_release_fails() -> None:
    finding = audit.assess("requests", "2.32.0", recorded("requests"))
    assert finding.status is Status.YANKED and "CVE-2024-35195" in finding.reason


def test_release_pypi_does_not_list_and_a_broken_answer() -> None:
    answer = copy.deepcopy(recorded("requests"))
    del answer["releases"]["2.34.2"]
    assert audit.assess("requests", "2.34.2", answer).status is Status.UNKNOWN
    assert audit.assess("requests", "2.34.2", {"message": "Not Found"}).status is Status.UNKNOWN


# -- the whole audit, its report and exit status ----------------------------------------------------


def fetcher(answers: Mapping[str, Mapping[str, Any] | Exception]) -> audit.Fetch:
    def fetch(name: str) -> Mapping[str, Any]:
        answer = answers[name]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return fetch


def test_audit_reports_every_pin_and_passes_when_nothing_is_known() -> None:
    findings = audit.audit(
        {"requests": "2.34.2", "ecdsa": "0.19.1"},
        fetcher({"requests": recorded("requests"), "ecdsa": recorded("ecdsa")}),
    )
    lines, status = audit.report(findings)
    assert status == 0
    assert "not checked ecdsa==0.19.1  not the latest release" in "\n".join(lines)
    assert "clean (no known vulnerability in PyPI's list for the latest release): requests==2.34.2" in lines
    assert lines[-1].startswith("summary: 1 clean, 0 vulnerable, 0 yanked, 1 not checked (1 not the latest release")


def test_audit_fails_on_a_vulnerability_and_names_it() -> None:
    findings = audit.audit({"pycrypto": "2.6.1"}, fetcher({"pycrypto": recorded("pycrypto")}))
    lines, status = audit.report(findings)
    assert status == 1
    assert any(line.startswith("VULNERABLE  pycrypto==2.6.1  PYSEC-2017-94 (CVE-2013-7459") for line in lines)
    assert lines[-1].startswith("FAILED")


def test_network_failure_is_reported_as_not_checked_never_as_clean() -> None:
    answers: dict[str, Mapping[str, Any] | Exception] = {
        "requests": Unreachable("https://pypi.org/pypi/requests/json: TimeoutError (after 3 attempts)"),
        "nosuch": NotOnIndex("https://pypi.org/pypi/nosuch/json answered 404"),
    }
    findings = audit.audit({"requests": "2.34.2", "nosuch": "1.0"}, fetcher(answers))
    assert [f.status for f in findings] == [Status.UNKNOWN, Status.UNREACHABLE]
    lines, status = audit.report(findings)
    assert status == 0  # a blip at PyPI does not block CI, but it is said plainly...
    assert "WARNING: audit incomplete: PyPI did not answer for 1 pins" in lines[-1]
    assert not any(line.startswith("clean") for line in lines)
    assert audit.report(findings, require_complete=True)[1] == 2  # ...and can be made to fail


def test_fetch_retries_then_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def refuse(request: object, timeout: float, context: object) -> None:
        calls.append(str(getattr(request, "full_url", "")))
        raise TimeoutError("timed out")

    monkeypatch.setattr(audit.urllib.request, "urlopen", refuse)
    monkeypatch.setattr(audit.time, "sleep", lambda seconds: None)
    with pytest.raises(Unreachable, match=r"TimeoutError.*after 3 of 3 attempts"):
        audit.fetch_project("requests", deadline=audit.time.monotonic() + 60)
    assert calls == ["https://pypi.org/pypi/requests/json"] * 3


def test_fetch_stops_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit.urllib.request, "urlopen", pytest.fail)
    with pytest.raises(Unreachable, match="time budget ran out"):
        audit.fetch_project("requests", deadline=audit.time.monotonic() - 1)


def test_main_reads_the_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("pycrypto==2.6.1 \\\n    --hash=sha256:" + "a" * 64 + "\n")
    assert audit.main([str(lock)], fetch=fetcher({"pycrypto": recorded("pycrypto")})) == 1
    out = capsys.readouterr().out
    assert out.startswith("audit of 1 pins") and "VULNERABLE  pycrypto==2.6.1" in out
