"""The official openEO API compliance suite (PyPI ``openeo-test-suite`` 0.2.2), its "general" tests, against
the embedded openEO back-end.

The suite runs in a virtualenv of its own (``.venv-openeo-suite/``, exactly
tests/compliance/requirements-openeo-suite.txt) from its repository layout (``.apex/openeo-test-suite/``,
every file verified against tests/compliance/openeo-test-suite.manifest.json), both put in place by
scripts/setup.sh. It signs in as the local issuer's ``noroles`` client with OIDC client credentials (the
secret reaches it through its environment only), reaches nothing but loopback
(tests/compliance/suite_offline_guard.py), and must pass every test but the suite's own known defects.
Its report (secrets masked) goes to test-output/openeo-compliance/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from apex_core.config import PROJECT_ROOT
from apex_core.local.issuer import IssuerHandle
from apex_core.local.openeo.service import OpenEoBackendService
from apex_core.sampledata import ensure_sample_data, load_manifest

pytestmark = pytest.mark.services

COMPLIANCE = PROJECT_ROOT / "tests" / "compliance"
MANIFEST = COMPLIANCE / "openeo-test-suite.manifest.json"
SUITE_INI = COMPLIANCE / "pytest-openeo-suite.ini"
SUITE_DIR = PROJECT_ROOT / ".apex" / "openeo-test-suite"
SUITE_PYTHON = PROJECT_ROOT / ".venv-openeo-suite" / "bin" / "python"
SHARED_SUITE = PROJECT_ROOT.parent / "shared" / "openeo-test-suite"
REPORT_DIR = PROJECT_ROOT / "test-output" / "openeo-compliance"
SUITE_VERSION = "0.2.2"
GENERAL_TESTS = "src/openeo_test_suite/tests/general"
OIDC_PROVIDER_ID = "apex-local"  # as the openeo_backend_oidc fixture registers the issuer
GUARD_HEADER = "network: loopback only (suite_offline_guard)"
# The whole run. It takes ~3 min, mostly the suite's own waits for its jobs to reach "running" (up to
# 10 s per test, 130 s in test_DELETE_jobs_job_id_results): its jobs load a collection that only VITO's
# back-ends have, so here they end in "error" at once.
DEADLINE = 480.0

# Defects of the suite itself, which no back-end can pass (../shared/openeo-test-suite/README.md).
KNOWN_SUITE_DEFECTS = {
    "test_GET_processes": "the spec's process JSON schema rejects the official process definitions too",
    "test_POST_result": "expects 201 where the API says 200",
    "test_GET_jobs_job_id_results": "uses CGLS_SSM_1KM, a collection only VITO's back-ends have",
}
# The general tests marked `longrunning`, which `-m "not longrunning"` deselects: of the three defects
# above, only test_GET_processes runs.
LONGRUNNING = {
    "test_GET_jobs_job_id_results",
    "test_POST_result",
    "test_none_POST_result",
    "test_empty_POST_result",
}
GENERAL_NOT_LONGRUNNING = 38  # of the 42 general tests of 0.2.2

_JWT = re.compile(r"eyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]+")
_MAX_LINES = 40  # of each failure in the test's own output (the full text is in REPORT_DIR)


@dataclass(frozen=True)
class SuiteCase:
    name: str
    outcome: str  # passed | failed | error | skipped
    message: str  # what the suite printed about the endpoint, then its short traceback


@pytest.fixture(scope="module")
def suite_layout() -> Path:
    """The suite's layout, verified (copied from ../shared or downloaded when missing), with its ini."""
    assert SUITE_PYTHON.is_file(), f"{SUITE_PYTHON} is missing: run ./scripts/setup.sh"
    ensure_sample_data(SUITE_DIR, SHARED_SUITE, load_manifest(MANIFEST))
    shutil.copyfile(SUITE_INI, SUITE_DIR / "pytest.ini")
    version = subprocess.run(
        [str(SUITE_PYTHON), "-c", "import importlib.metadata as m; print(m.version('openeo-test-suite'))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert version == SUITE_VERSION, f"{SUITE_PYTHON} has openeo-test-suite {version}: run ./scripts/setup.sh"
    return SUITE_DIR


def _mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return _JWT.sub("***", text)


def _read_junit(path: Path) -> list[SuiteCase]:
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314 - written by our own run
        outcome, texts = "passed", []
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag == "failure" else child.tag
                texts.append(child.text or child.get("message") or "")
            elif child.tag == "system-out" and child.text:
                texts.insert(0, child.text)
        message = "\n".join(t.strip() for t in texts if t.strip())
        cases.append(SuiteCase(case.get("name", "?"), outcome, message))
    return cases


def _shorten(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= _MAX_LINES:
        return text
    return "\n".join([*lines[:_MAX_LINES], f"[... {len(lines) - _MAX_LINES} more lines in {REPORT_DIR}]"])


def test_openeo_compliance_suite_general(
    suite_layout: Path,
    openeo_backend_oidc: OpenEoBackendService,
    issuer: IssuerHandle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = issuer.client("noroles")  # a user of its own: the suite's jobs stay out of other tests' lists
    junit = tmp_path / "suite-junit.xml"
    refused = tmp_path / "refused.log"
    refused.touch()
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),  # the openeo client's config and data folders: none of the user's
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        # The suite finds its assets and payloads from its package's location: upstream installs it editable
        # (`pip install -e .`), so the package is imported from the layout's src/ (the bytes of the wheel,
        # which brings the dependencies); imported from site-packages it builds doubled relative paths.
        "PYTHONPATH": os.pathsep.join([str(suite_layout / "src"), str(COMPLIANCE)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "GIT_CEILING_DIRECTORIES": str(suite_layout.parent),  # its report header git-describes its folders
        "APEX_SUITE_REFUSED_LOG": str(refused),
        "OPENEO_AUTH_METHOD": "client_credentials",
        "OPENEO_AUTH_PROVIDER_ID": OIDC_PROVIDER_ID,
        "OPENEO_AUTH_CLIENT_ID": client.client_id,
        "OPENEO_AUTH_CLIENT_SECRET": client.client_secret,
    }
    command = [
        str(SUITE_PYTHON), "-m", "pytest", GENERAL_TESTS,
        "--openeo-backend-url", openeo_backend_oidc.url.rstrip("/") + "/",
        "-m", "not longrunning",
        f"--junitxml={junit}",
        "-p", "suite_offline_guard",
        "-p", "no:cacheprovider",
        "-o", "junit_logging=system-out",  # the suite prints each failure's endpoint and status code
        "--tb=short",  # "long" tracebacks list each test's arguments, the bearer token among them
        "-rA",
    ]  # fmt: skip
    started = time.monotonic()
    try:
        run = subprocess.run(
            command, cwd=suite_layout, env=env, capture_output=True, text=True, timeout=DEADLINE, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the compliance suite did not finish within {DEADLINE:.0f} s")
    seconds = time.monotonic() - started

    secrets = [client.client_secret]
    junit_text = junit.read_text(encoding="utf-8") if junit.is_file() else ""
    raw = run.stdout + run.stderr + junit_text
    leaked = [
        name for name, found in [("client secret", secrets[0] in raw), ("JWT", _JWT.search(raw))] if found
    ]
    output = _mask(run.stdout + run.stderr, secrets)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "output.txt").write_text(output, encoding="utf-8")
    (REPORT_DIR / "junit.xml").write_text(_mask(junit_text, secrets), encoding="utf-8")
    assert junit_text, f"no JUnit report (exit {run.returncode}):\n{output[-6000:]}"

    cases = [SuiteCase(c.name, c.outcome, _mask(c.message, secrets)) for c in _read_junit(junit)]
    ran = {c.name for c in cases}
    failed = {c.name for c in cases if c.outcome in ("failed", "error")}
    expected = {name for name in KNOWN_SUITE_DEFECTS if name in ran}
    counts = ", ".join(
        f"{sum(c.outcome == o for c in cases)} {o}" for o in ("passed", "failed", "error", "skipped")
    )
    report = [
        f"openEO compliance suite {SUITE_VERSION}, general tests but longrunning, against "
        f"{openeo_backend_oidc.url}: {len(cases)} tests in {seconds:.0f} s (exit {run.returncode}): {counts}"
    ]
    for case in cases:
        if case.outcome != "passed":
            known = (
                f" [known suite defect: {KNOWN_SUITE_DEFECTS[case.name]}]" if case.name in expected else ""
            )
            report.append(f"--- {case.outcome.upper()} {case.name}{known}\n{_shorten(case.message)}")
    text = "\n".join(report)
    with capsys.disabled():
        sys.stdout.write("\n" + text + "\n")  # the findings belong in the test output, passed or not

    assert not leaked, f"the suite's output holds a secret ({', '.join(leaked)}): it must not"
    assert GUARD_HEADER in run.stdout, f"the network guard was not loaded:\n{output[-6000:]}"
    assert refused.read_text(encoding="utf-8") == "", (
        f"the suite tried to reach the network:\n{refused.read_text()}"
    )
    assert len(cases) == GENERAL_NOT_LONGRUNNING, f"{len(cases)} tests ran:\n{output[-6000:]}"
    assert ran.isdisjoint(LONGRUNNING), sorted(ran & LONGRUNNING)
    assert failed == expected, (
        f"failures other than the suite's known defects: {sorted(failed - expected)}; "
        f"known suite defects that passed: {sorted(expected - failed)}\n{text}"
    )
    assert not [c.name for c in cases if c.outcome == "skipped"], text
