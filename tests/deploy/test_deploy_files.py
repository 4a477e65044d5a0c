"""Static checks of the deployment files: deploy/Dockerfile, docker-compose.yml, deploy/k8s/.

Nothing here needs a Docker engine or a Kubernetes cluster. What can run does: the image's
HEALTHCHECK command against a local HTTP server, the compose ``topics`` init script against a
stub ``kafka-topics.sh``, the ConfigMap renderer, ``docker compose config`` and ``kubectl
kustomize`` when those clients are installed (each skipped, with the reason, when not).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from engine.adapters.kafka.clients import _topic_specs
from engine.settings import Settings, Topics

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
RENDER_SCRIPT = K8S / "render-rules-configmap.py"
RULES = ROOT / "rules"
WEB_PORT = 6066
HEALTH_PATH = "/health"
UID = 10001

K8S_API_VERSIONS = {
    "Namespace": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}


# --- helpers ----------------------------------------------------------------------------------
def load_yaml_docs(text: str) -> list[Any]:
    return [doc for doc in YAML(typ="safe", pure=True).load_all(text) if doc is not None]


def load_yaml(path: Path) -> Any:
    docs = load_yaml_docs(path.read_text(encoding="utf-8"))
    assert len(docs) == 1, f"{path}: expected one YAML document, got {len(docs)}"
    return docs[0]


@cache
def allowed_env_names() -> frozenset[str]:
    """``CSLA_<FIELD>`` for every Settings field, ``CSLA_TOPICS__<FIELD>`` for every topic."""
    names = {f"CSLA_{name.upper()}" for name in Settings.model_fields}
    names |= {f"CSLA_TOPICS__{name.upper()}" for name in Topics.model_fields}
    return frozenset(names)


def assert_settings_env(env: dict[str, str], where: str) -> None:
    unknown = sorted(k for k in env if k.startswith("CSLA_") and k not in allowed_env_names())
    assert not unknown, f"{where}: not settings of engine.settings.Settings: {unknown}"


def settings_from_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    """``Settings()`` as a process with exactly these CSLA_* variables would build it."""
    for key in list(os.environ):
        if key.startswith("CSLA_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def default(field: str) -> Any:
    return Settings.model_fields[field].default


def topic_defaults() -> dict[str, str]:
    return {name: str(info.default) for name, info in Topics.model_fields.items()}


# --- Dockerfile -------------------------------------------------------------------------------
def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comment lines dropped and continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue
        if not pending and not line.strip():
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return out


def dockerfile_stages() -> list[dict[str, Any]]:
    args: dict[str, str] = {}
    stages: list[dict[str, Any]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "ARG" and not stages:
            name, _, value = rest.partition("=")
            args[name] = value
        elif keyword == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append({"image": image, "name": name, "instructions": []})
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1]["instructions"].append((keyword, rest))
    return stages


def final_stage() -> dict[str, Any]:
    return dockerfile_stages()[-1]


def stage_values(keyword: str, stage: dict[str, Any] | None = None) -> list[str]:
    return [rest for kw, rest in (stage or final_stage())["instructions"] if kw == keyword]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in stage_values("ENV"):
        for word in shlex.split(rest):
            key, sep, value = word.partition("=")
            assert sep, f"ENV {rest!r}: use the KEY=value form"
            env[key] = value
    return env


def healthcheck_command() -> list[str]:
    (rest,) = stage_values("HEALTHCHECK")
    options, sep, command = rest.partition(" CMD ")
    assert sep, f"HEALTHCHECK without CMD: {rest!r}"
    assert "--timeout=" in options, "a hung /health must count as a failure"
    cmd = json.loads(command)
    assert isinstance(cmd, list), "HEALTHCHECK CMD should be the exec (JSON) form"
    return cmd


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "expected a build stage and a runtime stage"
    for stage in stages:
        assert stage["image"] == "python:3.11-slim", stage
    names = {stage["name"] for stage in stages}
    for stage in stages:
        for keyword, rest in stage["instructions"]:
            for ref in re.findall(r"(?:--from=|,from=)([\w.-]+)", rest):
                assert ref in names, f"{keyword} {rest!r} refers to unknown stage {ref!r}"
    build = stages[0]
    assert any("pip wheel" in rest for rest in stage_values("RUN", build))
    assert any("pip install" in rest for rest in stage_values("RUN"))


def test_dockerfile_runs_as_non_root_user() -> None:
    users = stage_values("USER")
    assert users, "the runtime stage has no USER: the worker would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in {"root", "0"}, f"USER {users[-1]}"
    assert group not in {"root", "0"}, f"USER {users[-1]}"
    assert user == str(UID)
    run = " ".join(stage_values("RUN"))
    assert f"useradd --system --uid {UID}" in run, "the user should exist in /etc/passwd"


def test_dockerfile_copy_sources_exist() -> None:
    copied: list[str] = []
    for stage in dockerfile_stages():
        for keyword, rest in stage["instructions"]:
            if keyword not in {"COPY", "ADD"}:
                continue
            if any(w.startswith("--from") for w in shlex.split(rest)):
                continue
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            for source in words[:-1]:
                assert (ROOT / source).exists(), f"{keyword} {rest!r}: {source} does not exist"
                copied.append(source.rstrip("/"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["readme"] in copied, "setuptools needs the readme to build"
    assert "pyproject.toml" in copied
    assert "engine" in copied
    assert "rules" in copied


def test_dockerfile_env_expose_entrypoint() -> None:
    env = dockerfile_env()
    assert env["CSLA_RULES_DIR"] == "/app/rules"
    assert env["CSLA_WEB_HOST"] == "0.0.0.0"
    assert_settings_env(env, "Dockerfile ENV")
    rules_copy = [r for r in stage_values("COPY") if shlex.split(r)[0].rstrip("/") == "rules"]
    assert rules_copy and shlex.split(rules_copy[0])[-1].rstrip("/") == env["CSLA_RULES_DIR"]
    assert str(WEB_PORT) in " ".join(stage_values("EXPOSE")).split()
    assert default("web_port") == WEB_PORT
    (entrypoint,) = stage_values("ENTRYPOINT")
    (cmd,) = stage_values("CMD")
    assert json.loads(entrypoint) == ["csla"]
    assert json.loads(cmd) == ["worker"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert scripts["csla"] == "engine.cli:main", "ENTRYPOINT csla must be the project's script"


def test_dockerfile_data_dir_is_writable_by_the_user() -> None:
    env = dockerfile_env()
    run = " ".join(stage_values("RUN"))
    assert f"mkdir -p {env['CSLA_DATA_DIR']}" in run
    assert f"chown {UID}:{UID} {env['CSLA_DATA_DIR']}" in run


class _Health(BaseHTTPRequestHandler):
    status = 200
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        body = b'{"status": "ok"}' if self.status == 200 else b'{"status": "failing"}'
        self.send_response(self.status if self.path == HEALTH_PATH else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[ThreadingHTTPServer, type[_Health]]]:
    handler = type("Handler", (_Health,), {"paths": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    cmd = healthcheck_command()
    assert cmd[0] == "python", "the slim image has python, and no curl/wget"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSLA_")}
    env["CSLA_WEB_PORT"] = str(port)
    return subprocess.run(
        [sys.executable, *cmd[1:]], env=env, capture_output=True, text=True, timeout=60
    )


def test_dockerfile_healthcheck_passes_on_a_healthy_worker(
    health_server: tuple[ThreadingHTTPServer, type[_Health]],
) -> None:
    server, handler = health_server
    result = _run_healthcheck(server.server_address[1])
    assert result.returncode == 0, result.stderr
    assert handler.paths == [HEALTH_PATH]


def test_dockerfile_healthcheck_fails_on_an_unhealthy_or_absent_worker(
    health_server: tuple[ThreadingHTTPServer, type[_Health]],
) -> None:
    server, handler = health_server
    port = server.server_address[1]
    handler.status = 503
    assert _run_healthcheck(port).returncode != 0
    server.shutdown()
    server.server_close()
    assert _run_healthcheck(port).returncode != 0  # nothing listens any more


def test_dockerfile_healthcheck_defaults_to_port_6066() -> None:
    code = healthcheck_command()[-1]
    assert f"'{WEB_PORT}'" in code and HEALTH_PATH in code
    assert "timeout=" in code, "urlopen waits forever by default"


# --- docker-compose.yml -----------------------------------------------------------------------
@cache
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def interpolate(value: Any, shell: dict[str, str] | None = None) -> str:
    """Compose interpolation for what these files use: ``${VAR:-default}`` (``VAR`` from
    ``shell`` when set and not empty) and ``$$``."""
    shell = shell or {}
    text = str(value)
    text = re.sub(r"(?<!\$)\$\{(\w+):-([^}]*)\}", lambda m: shell.get(m[1]) or m[2], text)
    return text.replace("$$", "$")


def service_env(name: str) -> dict[str, str]:
    env = service(name).get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: interpolate(value) for key, value in env.items()}


def kafka_version_from_pom() -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(ROOT / "deploy" / "kafka" / "pom.xml").getroot()
    version = root.find("m:properties/m:kafka.version", ns)
    assert version is not None and version.text
    return version.text.strip()


def compose_cli() -> list[str] | None:
    """A Compose v2 client: the ``docker compose`` plugin, or a standalone v2 binary."""
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cli in candidates:
        try:
            result = subprocess.run(
                [*cli, "version", "--short"], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.match(r"v?(\d+)\.", result.stdout.strip())
        if result.returncode == 0 and match and int(match[1]) >= 2:
            return cli
    return None


def test_compose_has_the_services() -> None:
    services = compose()["services"]
    assert {"kafka", "worker", "simulator"} <= set(services)


def test_compose_kafka_is_a_healthy_kraft_node_of_the_pinned_version() -> None:
    kafka = service("kafka")
    assert kafka["image"] == f"apache/kafka:{kafka_version_from_pom()}"
    env = service_env("kafka")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    listeners = {
        item.split("://")[0]: item.split("://")[1] for item in env["KAFKA_LISTENERS"].split(",")
    }
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    advertised = {
        item.split("://")[0]: item.split("://")[1]
        for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    }
    assert set(listeners) <= set(protocols)
    assert set(advertised) <= set(listeners)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    node_id, _, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert node_id == env["KAFKA_NODE_ID"]
    controller_port = listeners[env["KAFKA_CONTROLLER_LISTENER_NAMES"]].rsplit(":", 1)[-1]
    assert voter == f"kafka:{controller_port}", "the voter is this node's controller listener"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    # The broker address the engine containers use is advertised, on a listener that exists.
    broker = service_env("worker")["CSLA_BROKER"].removeprefix("kafka://")
    assert broker in advertised.values()
    assert kafka["healthcheck"]["test"], "kafka needs a healthcheck for depends_on"
    assert kafka.get("restart") in {"unless-stopped", "always", "on-failure"}


def test_compose_builds_and_images_exist() -> None:
    built: set[str] = set()
    for name, svc in compose()["services"].items():
        build = svc.get("build")
        if build is None:
            continue
        if isinstance(build, str):
            build = {"context": build}
        context = ROOT / build.get("context", ".")
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.resolve() == DOCKERFILE, f"{name}: builds {dockerfile}"
        if "image" in svc:
            built.add(svc["image"])
    for name in ("worker", "simulator"):
        assert "build" in service(name), f"{name} should build deploy/Dockerfile"
    for name, svc in compose()["services"].items():
        if "build" not in svc:
            image = svc["image"]
            assert image in built or image.startswith("apache/kafka:"), f"{name}: {image}"


def test_compose_worker() -> None:
    worker = service("worker")
    env = service_env("worker")
    assert env["CSLA_BROKER"] == "kafka://kafka:9092"
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert worker.get("restart") in {"unless-stopped", "always", "on-failure"}
    assert worker.get("command", ["worker"]) == ["worker"]
    rules_dir = env.get("CSLA_RULES_DIR", dockerfile_env()["CSLA_RULES_DIR"])
    assert f"./rules:{rules_dir}:ro" in worker["volumes"]
    assert RULES.is_dir()
    data_dir = env.get("CSLA_DATA_DIR", dockerfile_env()["CSLA_DATA_DIR"])
    assert any(v.split(":")[1] == data_dir for v in worker["volumes"]), "state needs a volume"
    published = [str(p).rsplit(":", 1)[-1] for p in worker["ports"]]
    assert str(WEB_PORT) in published
    assert env.get("CSLA_WEB_HOST", dockerfile_env()["CSLA_WEB_HOST"]) == "0.0.0.0"


def test_compose_simulator_generates_then_produces() -> None:
    sim = service("simulator")
    entrypoint = sim["entrypoint"]
    command = sim["command"]
    script = command[-1] if isinstance(command, list) else command
    assert entrypoint[0] in {"sh", "/bin/sh"} and entrypoint[-1] == "-c"
    match = re.fullmatch(r"csla simulate --out (\S+) && csla produce --input (\S+)", script)
    assert match and match[1] == match[2], script
    assert sim["healthcheck"]["disable"] is True, "the image's worker healthcheck does not apply"
    assert sim.get("restart", "no") == "no", "a one-shot job"
    assert service_env("simulator")["CSLA_BROKER"] == service_env("worker")["CSLA_BROKER"]
    assert "worker" in sim["depends_on"] or "kafka" in sim["depends_on"]


@pytest.mark.parametrize("name", ["worker", "simulator"])
def test_compose_env_are_valid_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = service_env(name)
    assert_settings_env(env, f"docker-compose.yml service {name}")
    merged = {k: v for k, v in dockerfile_env().items() if k.startswith("CSLA_")} | env
    settings_from_env(monkeypatch, merged)  # raises if a value does not validate


def test_compose_topics_init_creates_the_engines_topics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = service("topics")
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("worker", "simulator"):
        condition = service(name)["depends_on"]["topics"]["condition"]
        assert condition == "service_completed_successfully"
    script = interpolate(topics["command"][-1])
    log = tmp_path / "calls.jsonl"
    stub = tmp_path / "kafka-topics.sh"
    stub.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(log)!r}, 'a', encoding='utf-8') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n",
        encoding="utf-8",
    )
    stub.chmod(0o755)
    script = script.replace("/opt/kafka/bin/kafka-topics.sh", str(stub))
    assert topics["entrypoint"][-1] == "-c"
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    created: dict[str, dict[str, Any]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        argv = json.loads(line)
        opts: dict[str, Any] = {"config": {}}
        for flag, value in zip(argv, [*argv[1:], None], strict=True):
            if flag == "--config":
                key, _, val = str(value).partition("=")
                opts["config"][key] = val
            elif flag in {"--topic", "--partitions", "--replication-factor", "--bootstrap-server"}:
                opts[flag] = value
        assert "--create" in argv and "--if-not-exists" in argv
        created[opts["--topic"]] = opts
    defaults = topic_defaults()
    assert set(created) == set(defaults.values())
    broker = service_env("worker")["CSLA_BROKER"].removeprefix("kafka://")
    partitions = service_env("worker").get("CSLA_PARTITIONS", str(default("partitions")))
    # The configuration the worker's ensure_topics would give them (max.message.bytes explicit).
    specs = _topic_specs(settings_from_env(monkeypatch, service_env("worker")))
    for name, opts in created.items():
        assert opts["--bootstrap-server"] == broker
        assert opts["--partitions"] == partitions
        assert opts["--replication-factor"] == str(default("replication_factor"))
        if name == defaults["contracts"]:
            assert opts["config"] == {"cleanup.policy": "compact"}
        else:
            assert opts["config"] == specs[name], name


def test_docker_compose_config() -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip(
            "no Compose v2 client here (`docker compose version` fails: the plugin is not "
            "installed, and there is no standalone docker-compose v2)"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CSLA_", "COMPOSE_"))}
    result = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


# Exposure (issue 11 point 9, SECURITY.md): what the compose file publishes on the host.
LOOPBACK = "127.0.0.1"
PUBLISH_VARIABLE = "CSLA_PUBLISH_ADDRESS"  # a Compose variable, not an engine setting


def published(name: str, shell: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(host address, host port, container port) of each port a service publishes, after
    interpolation; an address left out means every interface ("")."""
    out = []
    for entry in service(name).get("ports") or []:
        if isinstance(entry, dict):  # the long syntax
            out.append(
                (
                    interpolate(entry.get("host_ip", ""), shell),
                    interpolate(entry.get("published", ""), shell),
                    str(entry["target"]),
                )
            )
            continue
        parts = interpolate(entry, shell).split("/")[0].split(":")
        container = parts[-1]
        host_port = parts[-2] if len(parts) >= 2 else ""
        out.append((":".join(parts[:-2]), host_port, container))
    return out


def test_compose_publishes_on_loopback_only() -> None:
    for name, svc in compose()["services"].items():
        assert svc.get("network_mode") != "host", f"{name}: host networking publishes all"
        for address, host_port, container in published(name):
            assert address == LOOPBACK, f"{name}: port {container} published on {address!r}"
            assert host_port, f"{name}: port {container} on a random host port"
    publishing = {n for n in compose()["services"] if published(n)}
    assert publishing == {"kafka", "worker"}, "topics and simulator publish nothing"


def test_compose_kafka_publishes_only_its_host_listener() -> None:
    env = service_env("kafka")
    listeners = {
        item.split("://")[0]: item.split("://")[1].rsplit(":", 1)[1]
        for item in env["KAFKA_LISTENERS"].split(",")
    }
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    ports = published("kafka", {PUBLISH_VARIABLE: "0.0.0.0"})
    assert ports == [(LOOPBACK, listeners["HOST"], listeners["HOST"])], "never beyond loopback"
    assert advertised["HOST"] == f"localhost:{listeners['HOST']}"
    # The controller and the inter-container listener are not published at all.
    for listener in ("CONTROLLER", "PLAINTEXT"):
        assert listeners[listener] not in {p[2] for p in ports}


def test_compose_worker_publish_address_is_an_explicit_override() -> None:
    assert published("worker") == [(LOOPBACK, str(WEB_PORT), str(WEB_PORT))]
    wide = published("worker", {PUBLISH_VARIABLE: "0.0.0.0"})
    assert wide == [("0.0.0.0", str(WEB_PORT), str(WEB_PORT))]
    assert PUBLISH_VARIABLE not in allowed_env_names(), "must not read as an engine setting"
    header = COMPOSE.read_text(encoding="utf-8").split("\nname:", 1)[0]
    assert PUBLISH_VARIABLE in header and "CSLA_WEB_TOKEN" in header, "documented on top"


def test_compose_worker_takes_the_web_token_from_the_shell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = (service("worker").get("environment") or {})["CSLA_WEB_TOKEN"]
    assert interpolate(raw) == "", "unset by default: no token in the file"
    token = "t0k3n"
    env = {k: interpolate(v, {"CSLA_WEB_TOKEN": token}) for k, v in service_env("worker").items()}
    env["CSLA_WEB_TOKEN"] = interpolate(raw, {"CSLA_WEB_TOKEN": token})
    settings = settings_from_env(monkeypatch, env)
    assert settings.web_token is not None and settings.web_token.get_secret_value() == token


# --- deploy/k8s -------------------------------------------------------------------------------
K8S_YAML = sorted(p.name for p in K8S.glob("*.yaml"))


@cache
def k8s_docs() -> dict[str, list[Any]]:
    return {name: load_yaml_docs((K8S / name).read_text(encoding="utf-8")) for name in K8S_YAML}


def k8s_object(kind: str, file: str | None = None) -> dict[str, Any]:
    found = [
        doc
        for name, docs in k8s_docs().items()
        for doc in docs
        if doc["kind"] == kind and (file is None or name == file)
    ]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kustomization() -> dict[str, Any]:
    return k8s_object("Kustomization")


def deployment() -> dict[str, Any]:
    return k8s_object("Deployment")


def worker_container() -> dict[str, Any]:
    (container,) = deployment()["spec"]["template"]["spec"]["containers"]
    return container


def generated_settings() -> dict[str, str]:
    (generator,) = kustomization()["configMapGenerator"]
    return dict(str(item).split("=", 1) for item in generator["literals"])


KAFKA_SECRET = "csla-kafka-credentials"
WEB_TOKEN_SECRET = "csla-web-token"


def example_secrets() -> dict[str, dict[str, Any]]:
    """The Secrets of secret.example.yaml by name."""
    docs = k8s_docs()["secret.example.yaml"]
    assert all(doc["kind"] == "Secret" for doc in docs)
    return {doc["metadata"]["name"]: doc for doc in docs}


def secret_example(name: str = KAFKA_SECRET) -> dict[str, Any]:
    return example_secrets()[name]


def worker_env() -> dict[str, str]:
    """What the worker sees: the settings ConfigMap, the (example) Secrets in ``envFrom``
    order, then ``env``."""
    env = generated_settings()
    for ref in worker_container()["envFrom"][1:]:
        secret = secret_example(ref["secretRef"]["name"])
        env |= {k: str(v) for k, v in secret["stringData"].items()}
    for item in worker_container().get("env", []):
        env[item["name"]] = str(item["value"])
    return env


def container_port(port: int | str) -> int:
    if isinstance(port, int):
        return port
    by_name = {p["name"]: p["containerPort"] for p in worker_container()["ports"]}
    assert port in by_name, f"no container port named {port!r}"
    return int(by_name[port])


_SUFFIX = {"": 1, "m": Decimal("0.001"), "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_SUFFIX |= {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def quantity(value: str | int) -> Decimal:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([a-zA-Z]*)", str(value))
    assert match and match[2] in _SUFFIX, f"not a Kubernetes quantity: {value!r}"
    return Decimal(match[1]) * Decimal(_SUFFIX[match[2]])


def test_k8s_dir_has_the_manifests() -> None:
    expected = {
        "namespace.yaml",
        "configmap-rules.yaml",
        "secret.example.yaml",
        "deployment.yaml",
        "service.yaml",
        "kustomization.yaml",
    }
    assert expected <= set(K8S_YAML)


@pytest.mark.parametrize("file", K8S_YAML)
def test_k8s_manifest_parses_with_known_kind_and_api_version(file: str) -> None:
    docs = k8s_docs()[file]
    assert docs, f"{file} is empty"
    for doc in docs:
        kind = doc.get("kind")
        assert kind in K8S_API_VERSIONS, f"{file}: unexpected kind {kind!r}"
        assert doc.get("apiVersion") == K8S_API_VERSIONS[kind], f"{file}: {kind}"
        if kind != "Kustomization":
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kust = kustomization()
    resources = kust["resources"]
    for resource in resources:
        assert (K8S / resource).is_file(), f"kustomization resource {resource} is missing"
    manifests = set(K8S_YAML) - {"kustomization.yaml", "secret.example.yaml"}
    assert set(resources) == manifests
    assert "secret.example.yaml" not in resources, "placeholder credentials must not be applied"
    assert kust["namespace"] == k8s_object("Namespace")["metadata"]["name"]
    for name, docs in k8s_docs().items():
        for doc in docs:
            namespace = doc.get("metadata", {}).get("namespace")
            assert namespace in {None, kust["namespace"]}, f"{name}: namespace {namespace}"
    (image,) = kust["images"]
    assert worker_container()["image"].split(":")[0] == image["name"]


def test_rules_configmap_is_rendered_from_rules_dir() -> None:
    module = render_module()
    current = (K8S / "configmap-rules.yaml").read_bytes().decode("utf-8")
    assert current == module.render(RULES), (
        "deploy/k8s/configmap-rules.yaml is out of date with rules/: "
        "run python deploy/k8s/render-rules-configmap.py"
    )
    configmap = k8s_object("ConfigMap", "configmap-rules.yaml")
    files = module.rule_files(RULES)
    assert files, "rules/ has no rule files"
    assert configmap["data"] == {p.name: p.read_text(encoding="utf-8") for p in files}
    volumes = deployment()["spec"]["template"]["spec"]["volumes"]
    assert configmap["metadata"]["name"] in [v.get("configMap", {}).get("name") for v in volumes]


def test_render_script_check_mode() -> None:
    result = subprocess.run(
        [sys.executable, str(RENDER_SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@cache
def render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_rules_configmap", RENDER_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _roundtrip(files: dict[str, str]) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_bytes(text.encode("utf-8"))
        doc = load_yaml_docs(render_module().render(Path(tmp)))
    assert len(doc) == 1
    return doc[0]["data"]


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n",
        "a: 1",
        "a: 1\n\n\n",
        "  indented: first\nb: 2\n",
        "\n  x: 1\n",
        "   \nx: 1\n",
        "tab:\tvalue\n\tleading tab\n",
        "trailing spaces   \n  \n",
        "crlf: 1\r\nb: 2\r\n",
        "ünïcödé: 7×24 §6.1\n",
        "",
        "\n",
        "ctrl: \x01\n",
        'ctrl and astral: \x1f\U00010000 \\ "q"\n',
        "nul: \x00\n",
        "line separator: \u2028 nel: \x85\n",
        "# only a comment\n",
        "key: |\n  nested block\n",
        "---\na: 1\n...\n",
    ],
)
def test_render_roundtrips_exactly(text: str) -> None:
    assert _roundtrip({"r.yaml": text}) == {"r.yaml": text}


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a.yaml", "b.yml", "c-1.yaml", "d_2.yaml"]),
        st.text(st.characters(codec="utf-8"), max_size=200),
        max_size=3,
    )
)
def test_render_roundtrips_any_text(files: dict[str, str]) -> None:
    assert _roundtrip(files) == files


def test_render_rejects_nested_rule_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.yaml").write_text("a: 1\n", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "y.yaml").write_text("a: 1\n", encoding="utf-8")
    module = render_module()
    with pytest.raises(module.RenderError, match=re.escape("sub/x.yaml")) as info:
        module.render(tmp_path)
    assert ".hidden" not in str(info.value), "dot directories are skipped, as the worker does"


def test_deployment_runs_as_non_root_with_read_only_root() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    container = worker_container()
    pod_sc = pod.get("securityContext", {})
    sc = container.get("securityContext", {})
    effective = pod_sc | sc
    assert effective.get("runAsNonRoot") is True
    assert effective.get("runAsUser") == UID, "the image's user"
    assert effective.get("runAsGroup", UID) != 0
    assert sc.get("allowPrivilegeEscalation") is False
    assert sc.get("readOnlyRootFilesystem") is True
    assert sc.get("capabilities", {}).get("drop") == ["ALL"]
    assert (pod_sc | sc).get("seccompProfile", {}).get("type") == "RuntimeDefault"
    assert pod.get("automountServiceAccountToken") is False


def test_deployment_writable_dirs_are_empty_dirs() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in worker_container()["volumeMounts"]}
    env = worker_env()
    for path in (env["CSLA_DATA_DIR"], "/tmp"):
        assert path in mounts, f"{path} must be writable under readOnlyRootFilesystem"
        assert "emptyDir" in volumes[mounts[path]["name"]], path
    rules = mounts[env["CSLA_RULES_DIR"]]
    assert rules.get("readOnly") is True
    assert "subPath" not in rules, "a subPath mount never sees ConfigMap updates"
    assert volumes[rules["name"]]["configMap"]["name"] == "csla-rules"


def test_deployment_probes_hit_health_on_6066() -> None:
    container = worker_container()
    assert "livenessProbe" in container and "readinessProbe" in container
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe not in container:
            continue
        http = container[probe]["httpGet"]
        assert http["path"] == HEALTH_PATH, probe
        assert container_port(http["port"]) == WEB_PORT, probe
    env = worker_env()
    assert env["CSLA_WEB_PORT"] == str(WEB_PORT)
    assert env["CSLA_WEB_HOST"] == "0.0.0.0", "probes come from the kubelet, not loopback"


def test_deployment_resources_fit_a_2_core_2gi_pod() -> None:
    resources = worker_container()["resources"]
    requests, limits = resources["requests"], resources["limits"]
    assert quantity(limits["cpu"]) == 2
    assert quantity(limits["memory"]) == 2 * 2**30
    for key, value in requests.items():
        assert key in limits and quantity(value) <= quantity(limits[key]), key
    threads = {e["name"]: e["value"] for e in worker_container().get("env", [])}
    assert int(threads["POLARS_MAX_THREADS"]) <= quantity(limits["cpu"])


def test_deployment_prometheus_annotations() -> None:
    annotations = deployment()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(WEB_PORT)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_k8s_env_names_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_settings_env(generated_settings(), "kustomization.yaml configMapGenerator")
    for name, secret in example_secrets().items():
        assert_settings_env(dict(secret["stringData"]), f"secret.example.yaml {name}")
    container_env = {e["name"]: str(e.get("value")) for e in worker_container().get("env", [])}
    assert_settings_env(container_env, "deployment.yaml env")
    settings_from_env(monkeypatch, {k: v for k, v in worker_env().items() if k.startswith("CSLA_")})
    settings_from_env(monkeypatch, generated_settings())  # without the optional Secret too


def test_deployment_env_from_refers_to_the_settings_and_the_optional_secret() -> None:
    (generator,) = kustomization()["configMapGenerator"]
    refs = worker_container()["envFrom"]
    assert refs[0]["configMapRef"]["name"] == generator["name"]
    assert [ref["secretRef"]["name"] for ref in refs[1:]] == [KAFKA_SECRET, WEB_TOKEN_SECRET]
    assert set(example_secrets()) == {KAFKA_SECRET, WEB_TOKEN_SECRET}
    for ref in refs[1:]:
        assert ref["secretRef"].get("optional") is True, "the Secrets are not applied by default"


def test_secret_example_is_clearly_an_example() -> None:
    for secret in example_secrets().values():
        assert secret["type"] == "Opaque"
        assert "data" not in secret, "placeholders belong in stringData, readable"
    text = (K8S / "secret.example.yaml").read_text(encoding="utf-8")
    assert text.count("EXAMPLE ONLY") == len(example_secrets())
    data = secret_example()["stringData"]
    assert "CSLA_SASL_PASSWORD" in data and "CSLA_SASL_USERNAME" in data
    for key in ("CSLA_SASL_PASSWORD", "CSLA_SASL_USERNAME"):
        assert "example" in data[key], f"{key} should be an obvious placeholder"
    assert set(secret_example(WEB_TOKEN_SECRET)["stringData"]) == {"CSLA_WEB_TOKEN"}
    assert "example" in secret_example(WEB_TOKEN_SECRET)["stringData"]["CSLA_WEB_TOKEN"]


def test_service_exposes_the_metrics_port_of_the_worker() -> None:
    svc = k8s_object("Service")
    pod_labels = deployment()["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert deployment()["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (port,) = svc["spec"]["ports"]
    assert port["port"] == WEB_PORT
    assert container_port(port["targetPort"]) == WEB_PORT


def test_service_is_cluster_ip_only() -> None:
    services = [doc for docs in k8s_docs().values() for doc in docs if doc["kind"] == "Service"]
    kinds = {doc["kind"] for docs in k8s_docs().values() for doc in docs}
    assert not kinds & {"Ingress", "Gateway", "HTTPRoute", "Route"}, "nothing exposed outside"
    (svc,) = services
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP", "stated, not left to the default"
    for key in ("externalIPs", "loadBalancerIP", "loadBalancerSourceRanges", "externalName"):
        assert key not in spec, key
    assert all("nodePort" not in port for port in spec["ports"])


def test_pods_use_no_host_network_or_host_ports() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert pod.get(key, False) is False, key
    for container in pod["containers"]:
        assert all("hostPort" not in port for port in container.get("ports", []))
        assert [p["containerPort"] for p in container["ports"]] == [WEB_PORT]


def test_web_token_comes_from_a_secret_never_from_a_literal() -> None:
    literals = generated_settings()
    assert "CSLA_WEB_TOKEN" not in literals, "a ConfigMap is not for secrets"
    container = worker_container()
    assert all(e["name"] != "CSLA_WEB_TOKEN" for e in container.get("env", []))
    ref = next(r["secretRef"] for r in container["envFrom"][1:] if "secretRef" in r
               and r["secretRef"]["name"] == WEB_TOKEN_SECRET)  # fmt: skip
    assert ref.get("optional") is True
    assert "CSLA_WEB_TOKEN" in secret_example(WEB_TOKEN_SECRET)["stringData"]
    # Probes and scraping need no token: /health and /metrics stay open.
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert "httpHeaders" not in container[probe]["httpGet"], probe


def test_service_links_cannot_shadow_settings() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    assert pod.get("enableServiceLinks") is False
    # Even with links on, this Service's variables must not be CSLA settings.
    prefix = k8s_object("Service")["metadata"]["name"].upper().replace("-", "_")
    for suffix in ("_SERVICE_HOST", "_SERVICE_PORT", "_PORT"):
        assert prefix + suffix not in allowed_env_names()


def test_kubectl_kustomize_renders() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize deploy/k8s` not run")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    docs = load_yaml_docs(result.stdout)
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "Namespace", "Service"]
    namespace = kustomization()["namespace"]
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace
    settings_cm = next(d for d in docs if d["metadata"]["name"].startswith("csla-settings-"))
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"][0]["configMapRef"]["name"] == settings_cm["metadata"]["name"]
    assert settings_cm["data"] == generated_settings()
