"""deploy/: the Azure templates (Bicep and their ARM twin) and the container image's recipe.

Nothing here reaches Azure or builds the image (no Docker engine, no Bicep CLI on these machines).
What can be checked is: both template forms parse (Bicep through pycep-parser), they name the same
parameters, environment variables, secrets and roles; every `COSTWATCH_*` variable they set lands in
the setting it is meant for; every secret feeds a SecretStr setting and comes from Key Vault; the
roles are exactly README's read-only ones; the Dockerfile runs as non-root with a HEALTHCHECK whose
command exists, and that command tells a running collector and dashboard from nothing listening.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pycep import BicepParser
from pydantic import SecretStr

from collector.azure.throttling import QpuMeter
from collector.cli import cli
from collector.db.engine import make_engine, upgrade
from collector.lease import Lease
from collector.metrics_export import start_exporter
from collector.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
AZURE = ROOT / "deploy" / "azure"
ARM = AZURE / "azuredeploy.json"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# Role definition IDs of the built-in roles README names (Learn, "Azure built-in roles").
BUILT_IN_ROLES = {
    "Cost Management Reader": "72fafb9e-0641-4937-9268-a91bfd8191a3",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Monitoring Reader": "43d0d8ad-25c7-4714-9337-8ba259a9fe05",
    "Billing Reader": "fa23ad8b-c56e-40d8-ac0f-ce449e1d2c64",
}
# The one role outside README's table: the "secrets" identity reads the Key Vault it references, on
# that vault only; costwatch's own identity never holds it.
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
# Set by the dashboard's container for `costwatch healthcheck`, not a setting.
HEALTHCHECK_ENV = "COSTWATCH_HEALTHCHECK_TARGET"

# A sample value for each variable the templates set from a parameter, and where it must land.
SAMPLES: dict[str, tuple[str, Any]] = {
    "COSTWATCH_DATABASE_URL": ("postgresql+psycopg://costwatch:p%40ss@psql.example:5432/costwatch", None),
    "COSTWATCH_LOG_FORMAT": ("json", "json"),
    "COSTWATCH_SUBSCRIPTIONS": (
        "00000000-0000-0000-0000-000000000001,00000000-0000-0000-0000-000000000002",
        ["00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"],
    ),
    "COSTWATCH_COSTS__SCOPE": ("/providers/Microsoft.Billing/billingAccounts/1234", None),
    "COSTWATCH_SCHEDULE__METRICS_HOST": ("0.0.0.0", "0.0.0.0"),
    "COSTWATCH_SCHEDULE__METRICS_PORT": ("9464", 9464),
    "COSTWATCH_ALERTS__DASHBOARD_URL": ("https://ca-cw-dashboard.example.azurecontainerapps.io", None),
    "COSTWATCH_ALERTS__EMAIL__SMTP_HOST": ("smtp.example.com", "smtp.example.com"),
    "COSTWATCH_ALERTS__EMAIL__SMTP_PORT": ("587", 587),
    "COSTWATCH_ALERTS__EMAIL__USERNAME": ("costwatch", "costwatch"),
    "COSTWATCH_ALERTS__EMAIL__SENDER": ("costwatch@example.com", "costwatch@example.com"),
    "COSTWATCH_ALERTS__EMAIL__RECIPIENTS": ("a@example.com,b@example.com", ["a@example.com", "b@example.com"]),
    "COSTWATCH_ALERTS__EMAIL__PASSWORD": ("smtp-secret", None),
    "COSTWATCH_ALERTS__TEAMS__WEBHOOK_URL": ("https://example.webhook.office.com/workflows/abc", None),
    "COSTWATCH_DASHBOARD__AUTH_ENABLED": ("true", True),
    "COSTWATCH_DASHBOARD__AUTH_PROVIDER": ("microsoft", "microsoft"),
    # string(dashboardRoles): the object parameter as JSON.
    "COSTWATCH_DASHBOARD__ROLES": ('{"CFO@example.com":"finance","oid-1":"admin"}', {"cfo@example.com": "finance",
                                                                                     "oid-1": "admin"}),
}  # fmt: skip


def bicep_files() -> list[Path]:
    return sorted(AZURE.rglob("*.bicep"))


@pytest.fixture(scope="module")
def bicep() -> dict[str, Any]:
    """Every Bicep file, parsed: a file pycep-parser cannot parse fails here with its name."""
    parser = BicepParser()
    return {str(path.relative_to(AZURE)): parser.parse(file_path=path) for path in bicep_files()}


@pytest.fixture(scope="module")
def arm() -> dict[str, Any]:
    return json.loads(ARM.read_text())


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def env_entries(tree: Any) -> dict[str, dict[str, Any]]:
    """Environment variables a template sets: literal `{name, value|secretRef}` objects, and ARM's
    `createObject('name', ..., 'value', ...)` inside expressions."""
    found: dict[str, dict[str, Any]] = {}
    for node in walk(tree):
        if isinstance(node, dict) and isinstance(node.get("name"), str) and ("value" in node or "secretRef" in node):
            if node["name"].startswith(("COSTWATCH_", "AZURE_")):
                found[node["name"]] = node
        elif isinstance(node, str):
            for name, value in re.findall(r"createObject\('name', '(\w+)', 'value', ([^)]*\)?)\)", node):
                found[name] = {"name": name, "value": value}
    return found


def inner_arm(arm: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = [r for r in arm["resources"] if r["name"] == "costwatch-resources"]
    return dict(deployment["properties"]["template"])


def test_both_template_forms_parse_and_the_bicep_modules_all_exist(bicep: dict[str, Any], arm: dict[str, Any]) -> None:
    assert arm["$schema"].endswith("subscriptionDeploymentTemplate.json#")
    main = bicep["main.bicep"]
    paths = {m["detail"]["path"] for m in main["modules"].values()}
    assert paths and all((AZURE / p).is_file() for p in paths), paths
    assert {f"modules/{p.name}" for p in (AZURE / "modules").glob("*.bicep")} == paths  # none left unused


def test_bicep_and_arm_take_the_same_parameters(bicep: dict[str, Any], arm: dict[str, Any]) -> None:
    text = (AZURE / "main.bicep").read_text()
    bicep_params = bicep["main.bicep"]["parameters"]
    assert set(bicep_params) == set(arm["parameters"])
    secure_bicep = set(re.findall(r"@secure\(\)\n(?:@.*\n)*param (\w+)", text))
    secure_arm = {k for k, v in arm["parameters"].items() if v["type"].startswith("secure")}
    assert secure_bicep == secure_arm == {
        "postgresPassword", "entraClientSecret", "cookieSecret", "smtpPassword", "teamsWebhookUrl",
    }  # fmt: skip
    for name, spec in arm["parameters"].items():
        ours = bicep_params[name]
        assert ours["type"] == spec["type"].removeprefix("secure").lower(), name
        decorators = {d["type"]: d.get("argument") for d in ours["decorators"]}
        assert decorators.get("description") == spec["metadata"]["description"], name
        assert decorators.get("min_length") == spec.get("minLength"), name
        assert decorators.get("max_length") == spec.get("maxLength"), name
        if name != "location":  # ARM's button form defaults to the deployment's region; azd always sets it
            assert ours["default"] == spec.get("defaultValue"), name
    # The parameters the brief asks for: subscription(s), billing scope, region, image.
    assert {"subscriptionIds", "costsScope", "location", "image"} <= set(arm["parameters"])
    # azd fills the names it knows; what it does not know it prompts for.
    azd = json.loads((AZURE / "main.parameters.json").read_text())["parameters"]
    assert set(azd) <= set(arm["parameters"])
    assert not set(azd) & secure_arm  # no secret in a committed file


def test_bicep_and_arm_set_the_same_environment_and_secrets(bicep: dict[str, Any], arm: dict[str, Any]) -> None:
    bicep_env = env_entries(bicep["modules/apps.bicep"])
    arm_env = env_entries(inner_arm(arm))
    assert set(bicep_env) == set(arm_env)
    assert {n: e.get("secretRef") for n, e in bicep_env.items()} == {n: e.get("secretRef") for n, e in arm_env.items()}
    bicep_secrets = {n["name"] for n in walk(bicep["modules/apps.bicep"]) if isinstance(n, dict) and "keyVaultUrl" in n}
    arm_secrets = {n["name"] for n in walk(inner_arm(arm)) if isinstance(n, dict) and "keyVaultUrl" in n}
    assert bicep_secrets == arm_secrets
    kv_bicep = set(
        re.findall(r"name: '([a-z-]+)'\n  properties: \{ value", (AZURE / "modules" / "keyvault.bicep").read_text())
    )
    kv_arm = {
        re.fullmatch(r"\[format\('\{0\}/([a-z-]+)', variables\('vaultName'\)\)\]", r["name"]).group(1)  # type: ignore[union-attr]
        for r in inner_arm(arm)["resources"]
        if r["type"] == "Microsoft.KeyVault/vaults/secrets"
    }
    assert kv_bicep == kv_arm == bicep_secrets  # every referenced secret is written to the vault


def test_every_costwatch_variable_lands_in_its_setting(bicep: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_entries(bicep["modules/apps.bicep"])
    names = {n for n in env if n.startswith("COSTWATCH_") and n != HEALTHCHECK_ENV}
    # Values the template writes as literals (quoted in the Bicep text); the others come from parameters.
    literals = dict(
        re.findall(r"\{ name: '(\w+)', value: '([^'$]*)' \}", (AZURE / "modules" / "apps.bicep").read_text())
    )
    assert names == set(SAMPLES), "a variable without a sample here, or a sample no template sets"
    for key in list(os.environ):
        if key.startswith("COSTWATCH_"):
            monkeypatch.delenv(key)
    for name in names:
        # A literal in the template is what the container gets; a parameter's value is sampled.
        if name in literals:
            assert literals[name] == SAMPLES[name][0], f"{name}: the template sets {literals[name]!r}"
        monkeypatch.setenv(name, SAMPLES[name][0])
    settings = load_settings()
    for name in names:
        target: Any = settings
        for part in name.removeprefix("COSTWATCH_").lower().split("__"):
            assert hasattr(target, part), f"{name}: no setting {part!r} in {type(target).__name__}"
            target = getattr(target, part)
        raw, expected = SAMPLES[name]
        if env[name].get("secretRef"):
            assert isinstance(target, SecretStr), f"{name} comes from a secret but its setting is not a SecretStr"
            assert raw in target.get_secret_value() or target.get_secret_value() == raw
        elif expected is not None:
            assert target == expected, name
        else:
            assert str(target).rstrip("/") == raw.lstrip("/").rstrip("/") or str(target) == raw, (name, target)
    assert settings.dashboard.auth_enabled and settings.costs.scope
    assert settings.alerts.email.enabled and settings.alerts.teams.enabled


def test_every_secret_is_a_key_vault_reference_feeding_a_secret_setting(
    bicep: dict[str, Any], arm: dict[str, Any]
) -> None:
    for tree in (bicep["modules/apps.bicep"], inner_arm(arm)):
        secrets = [n for n in walk(tree) if isinstance(n, dict) and "keyVaultUrl" in n]
        assert secrets and all(set(s) == {"name", "keyVaultUrl", "identity"} for s in secrets)  # no inline value
    text = (AZURE / "modules" / "apps.bicep").read_text()
    assert "value: " not in re.sub(r"\{ name: '[A-Z_]+', value: .*\}", "", text).split("var commonEnv")[0]
    refs = {e["secretRef"]: n for n, e in env_entries(bicep["modules/apps.bicep"]).items() if "secretRef" in e}
    assert refs == {
        "database-url": "COSTWATCH_DATABASE_URL",
        "smtp-password": "COSTWATCH_ALERTS__EMAIL__PASSWORD",
        "teams-webhook-url": "COSTWATCH_ALERTS__TEAMS__WEBHOOK_URL",
    }
    assert Settings.model_fields["database_url"].annotation is SecretStr
    # The two secrets that feed no setting: Streamlit's secrets.toml (a mounted file) and the platform
    # sign-in's client secret (read by Container Apps itself, by its conventional setting name).
    assert "secretRef: 'streamlit-secrets', path: 'secrets.toml'" in text
    assert "clientSecretSettingName: 'microsoft-provider-authentication-secret'" in text


def readme_roles() -> list[tuple[str, str]]:
    """(role, where) rows of README's read-only roles table."""
    text = (ROOT / "README.md").read_text()
    table = text.split("Read-only roles the identity needs", 1)[1].split("\n\n", 2)[1]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    return [(row[0], row[1]) for row in rows]


def test_the_identity_gets_exactly_the_readme_roles(arm: dict[str, Any]) -> None:
    rows = readme_roles()
    per_subscription = {role for role, where in rows if where == "each subscription"}
    at_billing_scope = [role for role, where in rows if where != "each subscription"]
    assert per_subscription == {"Cost Management Reader", "Reader", "Monitoring Reader"}
    assert len(at_billing_scope) == 1 and at_billing_scope[0].startswith("Billing Reader")
    wanted = {BUILT_IN_ROLES[r] for r in per_subscription}
    roles_bicep = (AZURE / "modules" / "roles.bicep").read_text()
    (roles_arm,) = [r for r in arm["resources"] if r["name"].startswith("[format('costwatch-roles-")]
    assert set(GUID.findall(roles_bicep.split("var roles", 1)[1])) == wanted
    assert set(roles_arm["properties"]["template"]["variables"]["roles"].values()) == wanted
    assert roles_arm["copy"]["count"] == "[length(parameters('subscriptionIds'))]"  # on each subscription
    assert "scope: subscription(subscriptionId)" in (AZURE / "main.bicep").read_text()
    # No other role anywhere, but Key Vault Secrets User on the vault for the secrets identity.
    everything = "\n".join(p.read_text() for p in bicep_files()) + ARM.read_text()
    assert set(GUID.findall(everything)) == wanted | {KEY_VAULT_SECRETS_USER}
    assert KEY_VAULT_SECRETS_USER not in roles_bicep
    # The billing-scope role is a billing role, not Azure RBAC: docs/deployment.md says how to grant it.
    assert BUILT_IN_ROLES["Billing Reader"] not in everything
    docs = (ROOT / "docs" / "deployment.md").read_text()
    assert "Billing Reader" in docs and "[costs] scope" in docs


def test_the_collector_runs_two_replicas_and_the_dashboard_signs_in(bicep: dict[str, Any], arm: dict[str, Any]) -> None:
    apps = {r["name"]: r for r in inner_arm(arm)["resources"] if r["type"] == "Microsoft.App/containerApps"}
    collector = apps["[variables('collectorName')]"]["properties"]["template"]
    dashboard = apps["[variables('dashboardName')]"]["properties"]["template"]
    assert collector["scale"] == {"minReplicas": 2, "maxReplicas": 2}
    assert collector["containers"][0]["command"] == ["costwatch", "schedule"]
    assert dashboard["containers"][0]["command"][:2] == ["costwatch", "dashboard"]
    text = (AZURE / "modules" / "apps.bicep").read_text()
    assert "scale: { minReplicas: 2, maxReplicas: 2 }" in text
    assert "command: ['costwatch', 'schedule']" in text
    assert "command: ['costwatch', 'db', 'upgrade']" in text
    for command in (["schedule"], ["dashboard", "--host", "0.0.0.0", "--port", "8501"], ["db", "upgrade"]):
        assert CliRunner().invoke(cli, [*command, "--help"]).exit_code == 0, command
    auth = [r for r in inner_arm(arm)["resources"] if r["type"] == "Microsoft.App/containerApps/authConfigs"]
    assert auth and auth[0]["properties"]["identityProviders"]["azureActiveDirectory"]["enabled"] is True
    assert "Microsoft.App/containerApps/authConfigs@2024-03-01" in text


# --- the image -------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        pending += raw.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        lines.append(pending)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in lines]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def healthcheck_command() -> list[str]:
    (check,) = [args for op, args in final_stage() if op == "HEALTHCHECK"]
    command = json.loads(check.split("CMD", 1)[1].strip())
    assert isinstance(command, list)
    return [str(c) for c in command]


def test_the_dockerfile_builds_a_wheel_runs_as_non_root_and_checks_health() -> None:
    build = " ".join(args for op, args in dockerfile_instructions() if op == "RUN")
    assert "--require-hashes" in build and "-r requirements.lock" in build
    assert "pip wheel" in build and "--no-deps" in build and "/wheels/costwatch_azure-" in build
    stage = final_stage()
    users = [args for op, args in stage if op == "USER"]
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith("0:")
    copies = [args for op, args in stage if op == "COPY"]
    assert copies and all(c.startswith("--from=build") for c in copies), "the runtime stage copies a source tree"
    command = healthcheck_command()
    assert command[0] == "costwatch"
    # The command exists and takes these arguments (click parses them without running the check).
    ctx = cli.make_context("costwatch", list(command[1:]), resilient_parsing=True)
    sub = cli.get_command(ctx, command[1])
    assert sub is not None and sub.name == "healthcheck"
    sub.make_context("healthcheck", list(command[2:]))
    (default,) = [json.loads(args) for op, args in stage if op == "CMD"]
    assert default == ["costwatch", "schedule"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_closed(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"127.0.0.1:{port} still answers")


def run_healthcheck(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, as Docker would run it (through the installed `costwatch`)."""
    command = healthcheck_command()
    executable = str(Path(sys.executable).with_name(command[0]))
    return subprocess.run(
        [executable, *command[1:], *extra], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTWATCH_")}
    env["COSTWATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'costwatch.db'}"
    return env


def test_the_healthcheck_tells_a_running_collector_from_nothing_listening(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = {**clean_env, "COSTWATCH_SCHEDULE__METRICS_PORT": str(port)}  # the collector's own setting
    settings = load_settings(database_url=env["COSTWATCH_DATABASE_URL"], schedule={"metrics_port": port})
    upgrade(env["COSTWATCH_DATABASE_URL"])
    engine = make_engine(env["COSTWATCH_DATABASE_URL"])
    server = start_exporter(settings, engine, Lease(engine, ttl_seconds=45), QpuMeter())
    try:
        healthy = run_healthcheck(env)
        assert healthy.returncode == 0, healthy.stderr
        assert f"collector healthy: http://127.0.0.1:{port}/metrics" in healthy.stdout
    finally:
        server.shutdown()
        server.server_close()
        engine.dispose()
    unhealthy = run_healthcheck(env)
    assert unhealthy.returncode == 1
    assert f"collector unhealthy: http://127.0.0.1:{port}/metrics no answer" in unhealthy.stderr
    assert "Traceback" not in unhealthy.stderr
    off = run_healthcheck({**clean_env, "COSTWATCH_SCHEDULE__METRICS_PORT": "0"})
    assert off.returncode == 1 and "metrics_port is 0" in off.stderr


def test_the_healthcheck_tells_a_running_dashboard_from_nothing_listening(clean_env: dict[str, str]) -> None:
    port = free_port()
    env = {**clean_env, HEALTHCHECK_ENV: "dashboard"}  # as the dashboard's container app sets it
    upgrade(env["COSTWATCH_DATABASE_URL"])
    costwatch = str(Path(sys.executable).with_name("costwatch"))
    # Its own session, so that the cleanup can reach anything it left behind.
    server = subprocess.Popen(
        [costwatch, "dashboard", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            healthy = run_healthcheck(env, "--port", str(port), "--timeout", "2")
            if healthy.returncode == 0 or time.monotonic() > deadline or server.poll() is not None:
                break
            time.sleep(0.5)
        assert healthy.returncode == 0, healthy.stderr
        assert f"dashboard healthy: http://127.0.0.1:{port}/_stcore/health" in healthy.stdout
    finally:
        # SIGTERM to the command's own process, as a container runtime sends it: `costwatch dashboard`
        # becomes Streamlit, so this stops the server itself.
        server.terminate()
        try:
            server.wait(timeout=20)
            _wait_until_closed(port, 20)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
    unhealthy = run_healthcheck(env, "--port", str(port))
    assert unhealthy.returncode == 1
    assert "dashboard unhealthy" in unhealthy.stderr and "Traceback" not in unhealthy.stderr


def test_the_healthcheck_refuses_an_answer_that_is_not_200(clean_env: dict[str, str]) -> None:
    """Something else on the port (a 404 from another server) is not a healthy collector."""
    import http.server
    import threading

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        answer = run_healthcheck(clean_env, "--port", str(port))
    finally:
        server.shutdown()
        server.server_close()
    assert answer.returncode == 1 and "answered HTTP 501" in answer.stderr, answer.stderr


def test_azure_yaml_points_azd_at_the_templates() -> None:
    text = (ROOT / "azure.yaml").read_text()
    import yaml

    spec = yaml.safe_load(text)
    assert spec["infra"] == {"provider": "bicep", "path": "deploy/azure", "module": "main"}
    assert (ROOT / spec["infra"]["path"] / f"{spec['infra']['module']}.bicep").is_file()
    hook = spec["hooks"]["postprovision"]["run"]
    assert "az containerapp job start" in hook and "$MIGRATION_JOB" in hook
    outputs = set(re.findall(r"^output (\w+)", (AZURE / "main.bicep").read_text(), re.M))
    assert {"MIGRATION_JOB", "AZURE_RESOURCE_GROUP"} <= outputs
    assert set(shlex.split(hook)) >= {"--name", "--resource-group"}


def expressions(node: Any) -> Iterator[str]:
    for value in walk(node):
        if isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[["):
            yield value
        if isinstance(value, dict):
            yield from (k for k in value if isinstance(k, str) and k.startswith("[") and k.endswith("]"))


def check_template(template: dict[str, Any], where: str) -> None:
    """Every parameters('x') / variables('x') a hand-written ARM template uses is declared in the same
    template (nested templates have scope "inner": they see only their own), and each expression's
    parentheses and quotes balance."""
    nested = [
        r["properties"]["template"]
        for r in template.get("resources", [])
        if r.get("type") == "Microsoft.Resources/deployments"
    ]
    own = {k: v for k, v in template.items() if k != "resources"}
    own["resources"] = [r for r in template.get("resources", []) if r.get("type") != "Microsoft.Resources/deployments"]
    outer_deployments = [
        {k: v for k, v in r.items() if k != "properties"} | {"parameters": r["properties"]["parameters"]}
        for r in template.get("resources", [])
        if r.get("type") == "Microsoft.Resources/deployments"
    ]
    for expression in [*expressions(own), *expressions(outer_deployments)]:
        body = re.sub(r"'(?:[^']|'')*'", "''", expression[1:-1])  # string literals out of the way
        assert body.count("(") == body.count(")"), f"{where}: unbalanced {expression}"
        assert body.count("[") == body.count("]"), f"{where}: unbalanced {expression}"
        for kind, name in re.findall(r"\b(parameters|variables)\('(\w+)'\)", expression):
            declared = template.get(kind, {})
            assert name in declared, f"{where}: {kind}('{name}') is not declared: {expression}"
    for inner in nested:
        assert inner["parameters"].keys() == next(
            r["properties"]["parameters"].keys()
            for r in template["resources"]
            if r.get("type") == "Microsoft.Resources/deployments" and r["properties"]["template"] is inner
        ), f"{where}: a nested deployment passes other parameters than its template takes"
        check_template(inner, f"{where} > nested")


def test_the_arm_template_refers_only_to_what_it_declares(arm: dict[str, Any]) -> None:
    check_template(arm, "azuredeploy.json")
    # Every resource a dependsOn names by type is one the same template declares.
    inner = inner_arm(arm)
    types = {r["type"] for r in inner["resources"]}
    for resource in inner["resources"]:
        for dependency in resource.get("dependsOn", []):
            (kind,) = re.findall(r"resourceId\('([\w./]+)'", dependency)[-1:] or ["?"]
            assert kind in types or "roleAssignments" in dependency, (resource["name"], dependency)


def test_the_build_stage_makes_a_wheel_that_holds_the_dashboard(tmp_path: Path) -> None:
    """The build stage's COPY lines, then its `pip wheel` command, run here without Docker: the wheel
    must hold what the runtime image runs, since the runtime stage copies no source tree."""
    instructions = dockerfile_instructions()
    build = instructions[: max(i for i, (op, _) in enumerate(instructions) if op == "FROM")]
    for op, args in build:
        if op == "COPY":
            *sources, _dest = args.split()
            for source in sources:
                path = ROOT / source
                target = tmp_path / source
                if path.is_dir():
                    import shutil

                    shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.write_bytes(path.read_bytes())
    (wheel_run,) = [args for op, args in build if op == "RUN" and "pip wheel" in args]
    command = wheel_run.split("&&")[0].replace("/opt/costwatch/bin/pip", f"{sys.executable} -m pip")
    command = command.replace("/wheels", str(tmp_path / "wheels"))
    result = subprocess.run(
        shlex.split(command), cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import zipfile

    (wheel,) = (tmp_path / "wheels").glob("costwatch_azure-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    pages = {f"dashboard/views/{p.name}" for p in (ROOT / "dashboard" / "views").glob("*.py")}
    assert {"dashboard/app.py", "collector/healthcheck.py", "collector/cli.py"} | pages <= names
    templates = {f"collector/alerts/templates/{p.name}" for p in (ROOT / "collector/alerts/templates").glob("*.j2")}
    assert templates <= names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "costwatch = collector.cli:main" in entry_points


def test_the_streamlit_secrets_both_forms_write_are_the_sign_in_streamlit_reads(arm: dict[str, Any]) -> None:
    """The secrets.toml the templates put in Key Vault (and mount at /app/.streamlit): valid TOML, the
    same from Bicep and ARM, with the `[auth]` keys Streamlit's st.login needs and a provider section
    named as `[dashboard] auth_provider`."""
    import tomllib

    samples = ["ca-cw-dashboard", "example.azurecontainerapps.io", "c" * 32, "client-id", "client~secret.1",
               "https://login.microsoftonline.com/", "tenant-id"]  # fmt: skip
    text = (AZURE / "main.bicep").read_text()
    lines = re.findall(r"^      '(.*)'$", text.split("streamlitSecrets: join([", 1)[1].split("], '\\n')", 1)[0], re.M)
    bicep_names = ["dashboardName", "env.outputs.defaultDomain", "cookieSecret", "entraClientId",
                   "entraClientSecret", "environment().authentication.loginEndpoint", "tenant().tenantId"]  # fmt: skip
    from_bicep = "\n".join(lines)
    for name, value in zip(bicep_names, samples, strict=True):
        from_bicep = from_bicep.replace("${" + name + "}", value)
    assert "${" not in from_bicep
    name = "[format('{0}/streamlit-secrets', variables('vaultName'))]"
    (secret,) = [r for r in inner_arm(arm)["resources"] if r["name"] == name]
    template = re.match(r"\[format\('((?:[^']|'')*)'", secret["properties"]["value"])
    assert template is not None
    from_arm = template.group(1).replace("''", "'")
    for index, value in enumerate(samples):
        from_arm = from_arm.replace("{" + str(index) + "}", value)
    assert tomllib.loads(from_bicep) == tomllib.loads(from_arm)
    secrets = tomllib.loads(from_arm)
    provider = SAMPLES["COSTWATCH_DASHBOARD__AUTH_PROVIDER"][0]
    assert secrets["auth"]["redirect_uri"] == "https://ca-cw-dashboard.example.azurecontainerapps.io/oauth2callback"
    assert secrets["auth"]["cookie_secret"] == "c" * 32
    assert secrets["auth"][provider] == {
        "client_id": "client-id",
        "client_secret": "client~secret.1",
        "server_metadata_url": "https://login.microsoftonline.com/tenant-id/v2.0/.well-known/openid-configuration",
    }
