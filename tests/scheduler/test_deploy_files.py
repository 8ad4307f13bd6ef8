"""The deployment files stay true to the code: units that systemd accepts and that start real commands, a
Procfile of real commands, and every setting the code reads listed in the env template and the README."""

import ast
import configparser
import functools
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands

from scheduler import broker

ROOT = Path(settings.BASE_DIR)
# The programs of the environment running these tests (the repository's .venv, tox's, a CI matrix's): the
# units name /opt/vigia/.venv/bin/..., and any environment with the requirements installed has the same ones.
BIN = Path(sys.executable).parent
UNITS = ROOT / "deploy" / "systemd"
INSTALL_DIR = "/opt/vigia"  # where the units and the README put the checkout
ENV_FILE = (ROOT / "deploy" / "vigia.env.example").read_text()
README = (ROOT / "README.md").read_text()
UNIT_NAMES = ["vigia-web.service", "vigia-scheduler.service", "vigia-qcluster@.service"]


def unit(name):
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string((UNITS / name).read_text())
    return parser


def assignments(name, key):
    """Every value of `key` (Environment= may appear several times; configparser would keep the last)."""
    pattern = re.compile(rf"^{re.escape(key)}=(.*)$", re.MULTILINE)
    return pattern.findall((UNITS / name).read_text())


def check_command(argv, where):
    """A manage.py command that exists, or gunicorn with a config file that exists and our WSGI module."""
    program = Path(argv[0]).name
    if program.startswith("python"):
        assert argv[1] == "manage.py", where
        assert argv[2] in get_commands(), f"{where}: no manage.py command {argv[2]!r}"
    elif program == "gunicorn":
        config = argv[argv.index("-c") + 1]
        assert (ROOT / config).is_file(), f"{where}: {config} is missing"
        assert argv[-1] == settings.WSGI_APPLICATION.rsplit(".", 1)[0], where
    else:
        pytest.fail(f"{where}: unexpected program {argv[0]}")


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_each_unit_starts_a_real_command_as_a_restarted_hardened_service(name):
    service = unit(name)["Service"]
    [exec_start] = assignments(name, "ExecStart")
    argv = shlex.split(exec_start)
    assert argv[0].startswith(f"{INSTALL_DIR}/.venv/bin/")
    assert (BIN / Path(argv[0]).name).exists(), "a program the virtualenv does not have"
    check_command(argv, name)

    assert service["WorkingDirectory"] == INSTALL_DIR and service["User"] == "vigia"
    assert service["EnvironmentFile"] == "/etc/vigia/vigia.env"
    assert service["Restart"] in ("always", "on-failure") and float(service["RestartSec"]) > 0
    assert int(service["TimeoutStopSec"]) >= 10  # a django-q2 cluster takes ~10 s to stop
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"
    assert "/var/lib/vigia" in service["ReadWritePaths"].split()
    assert re.search(r"^VIGIA_DATA_DIR=/var/lib/vigia$", ENV_FILE, re.MULTILINE)


def test_the_cluster_template_serves_exactly_its_instances_queue(monkeypatch):
    assert "VIGIA_CLUSTER_QUEUES=%i" in assignments("vigia-qcluster@.service", "Environment")
    for queue in settings.VIGIA_QUEUES:  # vigia-qcluster@high, @default, @low
        monkeypatch.setenv("VIGIA_CLUSTER_QUEUES", queue)
        assert broker.served_queues() == [queue]
    assert re.search(r"^VIGIA_CLUSTER_QUEUES=", ENV_FILE, re.MULTILINE) is None  # it would override %i


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path):
    # Verified with the checkout standing in for /opt/vigia, so systemd also checks the programs exist.
    for name in UNIT_NAMES:
        text = (UNITS / name).read_text().replace(f"{INSTALL_DIR}/.venv/bin", str(BIN))
        (tmp_path / name).write_text(text.replace(INSTALL_DIR, str(ROOT)))
    instances = [f"vigia-qcluster@{queue}.service" for queue in settings.VIGIA_QUEUES]
    targets = [str(tmp_path / name) for name in ["vigia-web.service", "vigia-scheduler.service", *instances]]
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *targets], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_the_procfile_runs_real_commands():
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if found:
            processes[found[1]] = found[2]
    assert set(processes) == {"release", "web", "worker", "scheduler"}
    for name, command in processes.items():
        for part in re.sub(r"\$\{[^}]*\}", "", command).split("&&"):  # ${PORT:+--bind ...}: optional
            argv = shlex.split(part)
            check_command(argv, f"Procfile {name}")
    assert "migrate" in processes["release"] and "createcachetable" in processes["release"]


# --- every setting documented ---------------------------------------------------------------------------


NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def _env_names(path, any_helper):
    """Environment variables a module reads: os.environ.get("X"), os.getenv("X"), os.environ["X"]; in the
    settings files (`any_helper`) also any call with such a name first, as env_int("X", 3) or _flag("X")."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            helper = any_helper and isinstance(node.func, ast.Name)
            if helper or ast.unparse(node.func) in ("os.environ.get", "os.getenv", "environ.get"):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("os.environ", "environ"):
            if isinstance(node.slice, ast.Constant):
                names.add(node.slice.value)
    return {name for name in names if isinstance(name, str) and NAME.fullmatch(name)}


@functools.cache
def settings_read():
    """Everything read by the settings, the gunicorn config and the app code (not the tests' own settings,
    nor the benchmarks' plumbing)."""
    config_files = [ROOT / "config" / "settings.py", ROOT / "deploy" / "gunicorn.conf.py"]
    names = set().union(*(_env_names(path, any_helper=True) for path in config_files))
    for app in ("config", "scheduler", "channels_app", "scrapers"):
        for path in (ROOT / app).rglob("*.py"):
            skip = {"bench", "migrations"} & set(path.parts) or "bench" in path.stem or path.name == "test_settings.py"
            if not skip:
                names |= _env_names(path, any_helper=False)
    return names


def env_template_names():
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", ENV_FILE, re.MULTILINE))


def readme_configuration_table():
    start = README.index("## Configuration")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def test_the_scan_sees_settings_read_in_each_way():
    found = settings_read()
    assert {"DATABASE_URL", "VIGIA_LEASE_TTL", "VIGIA_USER_AGENT", "VIGIA_CLUSTER_QUEUES", "WEB_CONCURRENCY"} <= found
    assert {"VIGIA_RETAIN_RUNS_DAYS", "VIGIA_RETENTION_BATCH"} <= found


def test_every_setting_is_in_the_environment_template():
    missing = settings_read() - env_template_names()
    assert not missing, f"add to deploy/vigia.env.example: {sorted(missing)}"


def test_the_environment_template_names_only_real_settings():
    unknown = env_template_names() - settings_read()
    assert not unknown, f"deploy/vigia.env.example names settings nothing reads: {sorted(unknown)}"


def test_every_vigia_setting_is_in_the_readme_configuration_table():
    table = readme_configuration_table()
    missing = {name for name in settings_read() if name.startswith("VIGIA_") and f"`{name}`" not in table}
    assert not missing, f"add rows to README's configuration table: {sorted(missing)}"


def test_the_readme_deploy_guide_uses_real_commands_and_units():
    start = README.index("## Deploying")
    guide = README[start : README.index("\n## ", start + 1)]
    commands = set(re.findall(r"(?:^|&&|:)\s*vigia ([a-z]\w*)", guide, re.MULTILINE))
    assert {"migrate", "createcachetable", "collectstatic", "createsuperuser"} <= commands
    assert commands <= set(get_commands()), commands - set(get_commands())
    for unit_name in set(re.findall(r"deploy/systemd/([\w@.-]+\.service)", guide)):
        assert (UNITS / unit_name).is_file(), unit_name
    for instance in set(re.findall(r"vigia-qcluster@(\w+)", guide)):
        assert instance in settings.VIGIA_QUEUES, instance
