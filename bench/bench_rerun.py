"""Benchmark the script run of every page with a finished project loaded, against the same pages on the
commit before this change (issue #13: "each rerun does each thing once"). Goal: under 100 ms per page.

One bench run:

1. checks the baseline commit (default ``08d21e7``, ``--baseline REV``) out into a temporary
   ``git worktree add --detach`` (removed afterwards; it runs with this project's ``.venv``, and its
   ``static/node_modules`` is a link to this checkout's, as setup installs it untracked);
2. starts the embedded services once (``python -m apex_core.local serve`` from the baseline tree,
   its JSON line read for the URLs; nothing of it is printed);
3. makes a finished project honestly, through AppTest in the baseline tree: new project, Area "Start from
   Bolzano", Job signed in with the demo account, the NDVI job submitted and followed until finished (its
   results downloaded), Preview, Metadata (title edited), Publish opened; the project store's JSON and the
   job's work folder are the fixture both trees measure;
4. measures each tree in its own subprocess (``cwd`` and ``PYTHONPATH`` = that tree, so each imports its
   own ``apex_core`` and ``pages``): a fresh state dir and SQLite project store holding that project (its
   work folder copied, paths in its state moved to the copy), then per page a fresh AppTest session opened
   with ``?project=<id>``, the page shown (``open``), one warm-up rerun, and ``--runs`` timed reruns
   (``at.run()``, nothing changed between them: what a rerun costs when it does each thing once).
   ``2_job+signin`` is the Job page after signing in (the finished job's panel); ``2_job`` is what a
   reopened project shows before that (sign-in form). ``--rounds`` such measurements per tree, each in a
   fresh process and store, baseline and current alternating (the machine's load drifts).

Columns, in ms: ``median``/``p90`` of the wall-clock ``at.run()`` of all rounds' reruns (app.py + the page +
AppTest's own overhead), ``cpu`` the median process CPU time of a rerun (less sensitive to other load on
the machine; on an idle one it is close to the wall time), ``open`` the page's first run; ``ratio`` and
``cpu r.`` current/baseline medians (< 1: faster); ``saves`` the project-store writes during the reruns (0
when an unchanged rerun saves nothing). The services stay up while both trees are measured (the Area and
Publish pages ask them once per session). The runner code (``--make``/``--measure``) is this file, the
same for both trees: AppTest, ``apex_core.projects`` and ``APEX_*`` settings only.

Run: ``.venv/bin/python bench/bench_rerun.py [--runs 15] [--rounds 2] [--baseline REV] [--json FILE]``
(``--keep``: keep the temporary folder with the logs; ``--profile``: then sample where the current
tree's pages over the goal spend their reruns, in extra reruns after the timed ones). About 5 to 8 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if "--measure" not in sys.argv and "--make" not in sys.argv:
    sys.path.insert(0, str(ROOT))

BASELINE = "08d21e7"
GOAL_MS = 100.0
APP = "app.py"
JOB_PAGE = "pages/flow/2_job.py"
# (label, page to switch to: None = the start screen the project URL opens on, sign in on the Job page)
PAGES: tuple[tuple[str, str | None, bool], ...] = (
    ("0_projects", None, False),
    ("1_area", "pages/flow/1_area.py", False),
    ("2_job", JOB_PAGE, False),
    ("2_job+signin", JOB_PAGE, True),
    ("3_preview", "pages/flow/3_preview.py", False),
    ("4_metadata", "pages/flow/4_metadata.py", False),
    ("5_publish", "pages/flow/5_publish.py", False),
)
# what a page shows, counted after its last rerun, to see that both trees render the same project
SHOWN = ("title", "button", "text_input", "selectbox", "markdown", "error", "warning", "info", "success")
USER_ENV, PASSWORD_ENV = "BENCH_RERUN_OPENEO_USER", "BENCH_RERUN_OPENEO_PASSWORD"


# --------------------------------------------------------------------------- runner side (in one tree)


def _use_tree(tree: Path) -> None:
    """Import ``apex_core``/``pages`` from ``tree`` only (not from the checkout this file lives in)."""
    keep = [p for p in sys.path if p and Path(p).resolve() not in (ROOT, ROOT / "bench")]
    sys.path[:] = [str(tree), *keep]
    os.chdir(tree)
    import apex_core

    where = Path(apex_core.__file__).resolve()
    if not where.is_relative_to(tree):
        raise RuntimeError(f"apex_core imported from {where}, not from the tree {tree}")


def _ok(at: Any, what: str) -> Any:
    if at.exception:
        raise RuntimeError(f"{what}: " + " | ".join(str(e.message)[:300] for e in at.exception))
    return at


def _button(at: Any, label: str) -> Any:
    found = [b for b in at.button if b.label == label]
    if not found:
        shown = [str(m.value)[:200] for m in (*at.error, *at.warning)]
        raise RuntimeError(f"no button {label!r} on {[str(t.value) for t in at.title]}: {shown}")
    return found[0]


def _sign_in(at: Any) -> None:
    at.text_input(key="job_user").set_value(os.environ[USER_ENV])
    at.text_input(key="job_password").set_value(os.environ[PASSWORD_ENV])
    _ok(_button(at, "Connect").click().run(), "sign in")
    if any(b.label == "Connect" for b in at.button):
        raise RuntimeError("still not signed in after Connect")


def make_project(tree: Path, out: Path, deadline_s: float) -> None:
    """The flow through AppTest, in this tree, up to a finished job, its preview and a metadata draft."""
    _use_tree(tree)
    from streamlit.testing.v1 import AppTest

    from apex_core.projects import SqliteProjectStore, project_work_folder
    from apex_core.steps import StateKey

    at = _ok(AppTest.from_file(str(tree / APP), default_timeout=120).run(), "start screen")
    at.text_input(key="projects_new_name").set_value("Bolzano NDVI (bench)")
    _ok(_button(at, "New project").click().run(), "new project")
    project_id = str(at.session_state["apex_project"]["id"])
    _ok(_button(at, "Start from Bolzano").click().run(), "Area: start from Bolzano")
    _ok(at.switch_page(JOB_PAGE).run(), "Job page")
    _sign_in(at)
    _ok(_button(at, "Submit the NDVI job").click().run(), "submit")
    started = time.monotonic()
    while True:
        follow = at.session_state.get("apex_job_follow")
        if follow is None or follow.done:
            break
        if time.monotonic() - started > deadline_s:
            status = at.session_state[StateKey.JOB].get("status")
            raise RuntimeError(f"the job is still {status} after {deadline_s} s")
        time.sleep(1.0)
        _ok(at.run(), "follow the job")
    job = at.session_state[StateKey.JOB]
    if job.get("status") != "finished" or not job.get("assets"):
        raise RuntimeError(f"the job ended {job.get('status')!r} with {len(job.get('assets') or ())} assets")
    job_s = time.monotonic() - started
    _ok(at.switch_page("pages/flow/3_preview.py").run(), "Preview page")
    _ok(at.switch_page("pages/flow/4_metadata.py").run(), "Metadata page")
    at.text_input(key="md_title").set_value("NDVI over Bolzano, 12 June 2022 (bench)")
    _ok(at.run(), "Metadata edit")
    _ok(at.switch_page("pages/flow/5_publish.py").run(), "Publish page")
    state_dir = Path(os.environ["APEX_STATE_DIR"])
    project, state = SqliteProjectStore.in_state_dir(state_dir).get(project_id)
    for key in (StateKey.AOI, StateKey.JOB, StateKey.PREVIEW, StateKey.METADATA):
        if key.value not in state.to_dict():
            raise RuntimeError(f"the saved project has no {key.value}")
    out.write_text(
        json.dumps(
            {
                "name": project.name,
                "state": state.to_json(),
                "work_folder": str(project_work_folder(state_dir, project_id)),
                "step": project.step,
                "status": project.status,
                "job_seconds": round(job_s, 1),
            }
        )
    )


def _move_paths(value: Any, old: str, new: str) -> Any:
    """``value`` with every string naming ``old`` or a path under it moved under ``new``."""
    if isinstance(value, dict):
        return {k: _move_paths(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_move_paths(v, old, new) for v in value]
    if isinstance(value, str) and (value == old or value.startswith(old + "/")):
        return new + value[len(old) :]
    return value


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _sampled(at: Any, runs: int, tree: Path) -> dict[str, float]:
    """``runs`` more reruns, sampling the script thread's stack every ~2 ms: per function of the tree, the
    share of the samples it is on the stack in (a poor man's cumulative profile across threads); and, as
    ``self:`` entries, the innermost function of the tree with the library it was in (its own time)."""
    counts: Counter[str] = Counter()
    inner: Counter[str] = Counter()
    total = 0
    stop = threading.Event()
    prefix, main = str(tree) + "/", threading.get_ident()

    def sample() -> None:
        nonlocal total
        me = threading.get_ident()
        while not stop.wait(0.002):
            for ident, frame in sys._current_frames().items():
                seen, f, callee = set(), frame if ident not in (main, me) else None, None
                innermost = ""
                while f is not None:
                    path = f.f_code.co_filename
                    if path.startswith(prefix) and "/.venv/" not in path:
                        name = f"{path[len(prefix) :]}:{f.f_code.co_name}"
                        seen.add(name)
                        if not innermost:
                            lib = _library(callee.f_code.co_filename) if callee is not None else "itself"
                            innermost = f"self: {name} in {lib}"
                    elif not innermost:
                        callee = f
                    f = f.f_back
                if seen:
                    total += 1
                    counts.update(seen)
                    inner[innermost] += 1

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for _ in range(runs):
            _ok(at.run(), "sampled rerun")
    finally:
        stop.set()
        sampler.join()
    if not total:
        return {}
    return {name: n / total for name, n in (*counts.most_common(40), *inner.most_common(20))}


def _library(path: str) -> str:
    """The package a source file belongs to (``streamlit``, ``folium``…), ``stdlib`` or ``other``."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    return "stdlib" if "/lib/python3" in path else "other"


def measure(tree: Path, fixture: Path, runs: int, out: Path, profile: bool = False) -> None:
    """Load the fixture into a fresh store of this tree, then time the reruns of each page."""
    _use_tree(tree)
    from streamlit.testing.v1 import AppTest

    from apex_core.projects import ProjectState, SqliteProjectStore, project_work_folder

    data = json.loads(fixture.read_text())
    state_dir = Path(os.environ["APEX_STATE_DIR"])
    store = SqliteProjectStore.in_state_dir(state_dir)
    made = store.create(data["name"], ProjectState())
    folder = project_work_folder(state_dir, made.id)
    shutil.copytree(data["work_folder"], folder, dirs_exist_ok=True)
    moved = _move_paths(json.loads(data["state"]), data["work_folder"], str(folder))
    store.save(made.id, ProjectState.from_json(json.dumps(moved)), made.version)
    results: dict[str, Any] = {}
    for label, page, sign_in in PAGES:
        try:
            at = AppTest.from_file(str(tree / APP), default_timeout=120)
            at.query_params["project"] = made.id
            t0 = time.perf_counter()
            _ok(at.run(), "open the project URL")
            if page is not None:
                t0 = time.perf_counter()
                _ok(at.switch_page(page).run(), f"open {page}")
            open_ms = (time.perf_counter() - t0) * 1000
            if sign_in:
                _sign_in(at)
            _ok(at.run(), "warm-up rerun")
            version = store.get(made.id)[0].version
            times, cpu = [], []
            for _ in range(runs):
                t0, c0 = time.perf_counter(), time.process_time()
                at.run()
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                _ok(at, "rerun")
            results[label] = {
                "open_ms": open_ms,
                "runs_ms": times,
                "cpu_ms": cpu,
                "saves": store.get(made.id)[0].version - version,
                "shown": {kind: len(getattr(at, kind)) for kind in SHOWN},
                "errors": [str(m.value)[:160] for m in (*at.error, *at.warning)],
            }
            if profile:
                results[label]["profile"] = _sampled(at, runs, tree)
        except Exception as exc:
            results[label] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
    out.write_text(json.dumps(results))


# --------------------------------------------------------------------------- orchestration


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def _start_services(tree: Path, root: Path, data_dir: Path | None, log: Path) -> tuple[Any, dict[str, Any]]:
    """``python -m apex_core.local serve`` from ``tree``; returns the process and its JSON line."""
    argv = [sys.executable, "-m", "apex_core.local", "serve", "--state-dir", str(root / "services")]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    proc = subprocess.Popen(
        argv, cwd=tree, env=_env(tree, root / "services"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=log.open("ab"),
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if line:
                return proc, json.loads(line)
        if proc.poll() is not None:
            break
    _stop(proc)
    raise RuntimeError(f"the embedded services did not start (log: {log})")


def _stop(proc: Any) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdin is not None:
        proc.stdin.close()


def _env(tree: Path, state_dir: Path, services: dict[str, Any] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APEX_")}
    env.update(PYTHONPATH=str(tree), APEX_STATE_DIR=str(state_dir), APEX_EMBEDDED_AUTOSTART="false")
    env.update(APEX_LOG_LEVEL="WARNING", PYTHONDONTWRITEBYTECODE="1")
    data = ROOT / ".apex" / "data"
    if data.is_dir():
        env["APEX_DATA_DIR"] = str(data)
    if services is not None:
        env.update(APEX_OPENEO_URL=services["openeo_url"], APEX_CATALOGUE_URL=services["catalogue_url"])
        env.update(APEX_OIDC_ISSUER=services["oidc_issuer"])
        env[USER_ENV], env[PASSWORD_ENV] = services["openeo_username"], services["openeo_password"]
    return env


def _runner(tree: Path, state_dir: Path, services: dict[str, Any], args: list[str], log: Path) -> float:
    """This file in runner mode, in ``tree``; returns its seconds. Its output goes to ``log``."""
    state_dir.mkdir(parents=True)
    started = time.monotonic()
    with log.open("ab") as out:
        code = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *args, "--tree", str(tree)],
            cwd=tree, env=_env(tree, state_dir, services), stdout=out, stderr=out, check=False,
        ).returncode  # fmt: skip
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"runner {args[0]} in {tree} exited {code}:\n  " + "\n  ".join(tail))
    return time.monotonic() - started


def pool(rounds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per page: the reruns of the rounds that measured it, together (else the first round's error)."""
    out: dict[str, dict[str, Any]] = {}
    for label, _, _ in PAGES:
        found = [r.get(label) or {"error": "not measured"} for r in rounds] or [{"error": "not measured"}]
        errors = [r["error"] for r in found if "error" in r]
        found = [r for r in found if "error" not in r]
        if not found:
            out[label] = {"error": errors[0]}
            continue
        runs = [t for r in found for t in r["runs_ms"]]
        out[label] = {
            "open_ms": statistics.median(r["open_ms"] for r in found),
            "median_ms": statistics.median(runs),
            "p90_ms": _p90(runs),
            "cpu_ms": statistics.median(t for r in found for t in r["cpu_ms"]),
            "saves": sum(r["saves"] for r in found),
            "rounds_measured": len(found),
            "shown": found[-1]["shown"],
            "errors": found[-1]["errors"],
            "profile": found[-1].get("profile") or {},
            "rounds": found,
        }
    return out


def _cells(result: dict[str, Any] | None) -> str:
    keys = ("open_ms", "median_ms", "p90_ms", "cpu_ms")
    if not result or "error" in result:
        return "".join(f"{'—':>7}" for _ in keys)
    return "".join(f"{result[k]:>7.0f}" for k in keys)


def report(base: dict[str, Any], cur: dict[str, Any], base_rev: str, runs: int, rounds: int) -> None:
    print(
        f"\nScript run per page, ms: wall-clock at.run() over {rounds} x {runs} reruns after a warm-up "
        "(median, p90; cpu: median process CPU time of a rerun; open: the page's first run; "
        "ratio: current/baseline median, cpu r. of cpu; saves: project-store writes during the reruns)"
    )
    cols = "".join(f"{c:>7}" for c in ("open", "median", "p90", "cpu"))
    print(f"{'':<14}{'baseline ' + base_rev:^28}   {'current tree':^28}")
    print(f"{'page':<14}{cols}   {cols}   {'ratio':>6} {'cpu r.':>6}  {'saves b/c':>9}")
    for label, _, _ in PAGES:
        b, c = base.get(label), cur.get(label)
        ratio, cpu_ratio, saves = "—", "—", "—"
        if b and c and "error" not in b and "error" not in c:
            ratio = f"{c['median_ms'] / b['median_ms']:.2f}"
            cpu_ratio = f"{c['cpu_ms'] / b['cpu_ms']:.2f}"
        if b or c:
            saves = "/".join(str(r["saves"]) if r and "error" not in r else "—" for r in (b, c))
        print(f"{label:<14}{_cells(b)}   {_cells(c)}   {ratio:>6} {cpu_ratio:>6}  {saves:>9}")
    print(f"\nGoal: current median under {GOAL_MS:.0f} ms per page (wall; cpu: the same without other load)")
    for label, _, _ in PAGES:
        c = cur.get(label) or {"error": "not measured"}
        if "error" in c:
            print(f"  {label:<14} NOT MEASURED: {c['error']}")
        else:
            wall = "under" if c["median_ms"] < GOAL_MS else "OVER "
            cpu = "under" if c["cpu_ms"] < GOAL_MS else "OVER "
            print(
                f"  {label:<14} wall {wall} {GOAL_MS:.0f} ms (median {c['median_ms']:.0f}), "
                f"cpu {cpu} {GOAL_MS:.0f} ms (median {c['cpu_ms']:.0f})"
                + (f"; {c['rounds_measured']} of {rounds} rounds" if c["rounds_measured"] < rounds else "")
            )
    for label, r in base.items():
        if "error" in r:
            print(f"  baseline {label}: {r['error']}")
    print("\nWhat the pages show (element counts after the last rerun), where the trees differ:")
    same = True
    for label, _, _ in PAGES:
        b, c = base.get(label) or {}, cur.get(label) or {}
        if "shown" not in b or "shown" not in c:
            continue
        diff = [
            f"{k} {b['shown'][k]}->{c['shown'].get(k)}" for k in SHOWN if b["shown"][k] != c["shown"].get(k)
        ]
        errors = [e for e in c["errors"] if e not in b["errors"]]
        if diff or errors:
            same = False
            print(f"  {label:<14} {', '.join(diff)}" + "".join(f"\n    current shows: {e}" for e in errors))
    if same:
        print("  none: the same titles, widgets, texts, errors and warnings")
    over = [(label, c) for label, c in cur.items() if c.get("profile") and c["median_ms"] >= GOAL_MS]
    if over:
        print(
            "\nWhere the current tree's reruns of the pages over the goal go (sampled: share of the script "
            "run a function of the tree is on the stack in, the ever-present app.py left out; innermost: "
            "where the time itself goes):"
        )
    for label, c in over:
        calls = [
            (n, share) for n, share in c["profile"].items() if share < 0.97 and not n.startswith("self:")
        ]
        own = [(n[6:], share) for n, share in c["profile"].items() if n.startswith("self:")]
        print(f"  {label}, on the stack: " + "; ".join(f"{n} {share:.0%}" for n, share in calls[:6]))
        print(f"  {'':<{len(label)}}  innermost: " + "; ".join(f"{n} {share:.0%}" for n, share in own[:5]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="timed reruns per page (default 15)")
    parser.add_argument("--baseline", default=BASELINE, help=f"compare with this commit ({BASELINE})")
    parser.add_argument("--json", type=Path, default=None, help="also write all numbers to this file")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per tree, alternating (2)")
    parser.add_argument("--profile", action="store_true", help="also sample where pages over the goal spend")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, stores)")
    parser.add_argument("--job-timeout", type=float, default=300.0, help="seconds the NDVI job may take")
    # runner modes (this file re-run in one tree)
    parser.add_argument("--make", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--project-state", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        make_project(args.tree.resolve(), args.project_state, args.job_timeout)
        return 0
    if args.measure:
        measure(args.tree.resolve(), args.project_state, args.runs, args.out, args.profile)
        return 0

    t_start = time.monotonic()
    rev = _git("rev-parse", "--verify", args.baseline + "^{commit}")
    short = _git("rev-parse", "--short", rev)
    head = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    root = Path(tempfile.mkdtemp(prefix="apex-bench-rerun-"))
    root.chmod(0o711)  # the embedded catalogue's postgres must traverse it
    base_tree = root / "baseline"
    services_proc = None
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average {load} ({os.cpu_count()} CPUs)")
    print(f"baseline {short}; current: the working tree at {head}{' + uncommitted changes' if dirty else ''}")
    try:
        _git("worktree", "add", "--detach", str(base_tree), rev)
        # the map library files setup installs (untracked): the baseline's pages check they are there
        if (ROOT / "static" / "node_modules").is_dir():
            (base_tree / "static" / "node_modules").symlink_to(ROOT / "static" / "node_modules")
        t0 = time.monotonic()
        services_proc, services = _start_services(base_tree, root, None, root / "services.log")
        print(f"embedded services up in {time.monotonic() - t0:.0f} s (from the baseline tree)")
        fixture = root / "project.json"
        seconds = _runner(
            base_tree, root / "make-state", services,
            ["--make", "--project-state", str(fixture), "--job-timeout", str(args.job_timeout)],
            root / "make.log",
        )  # fmt: skip
        made = json.loads(fixture.read_text())
        files = sum(1 for p in Path(made["work_folder"]).rglob("*") if p.is_file())
        print(
            f"finished project made in {seconds:.0f} s (job {made['job_seconds']} s): "
            f"next step {made['step']}, "
            f"{made['status']}, {files} files, state {len(made['state']) / 1024:.0f} KiB"
        )
        raw: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
        trees = [("baseline", base_tree), ("current", ROOT)]
        for n in range(args.rounds):
            for name, tree in trees if n % 2 == 0 else trees[::-1]:  # alternate: drift hits both alike
                out = root / f"{name}-{n}.json"
                try:
                    seconds = _runner(
                        tree, root / f"{name}-state-{n}", services,
                        ["--measure", "--project-state", str(fixture), "--runs", str(args.runs),
                         "--out", str(out), *(["--profile"] if args.profile else [])],
                        root / f"{name}-{n}.log",
                    )  # fmt: skip
                    raw[name].append(json.loads(out.read_text()))
                    print(f"{name} round {n + 1} measured in {seconds:.0f} s")
                except RuntimeError as exc:
                    print(f"{name} round {n + 1} NOT measured: {exc}")
                    raw[name].append({})
        results = {name: pool(rounds) for name, rounds in raw.items()}
        report(results["baseline"], results["current"], short, args.runs, args.rounds)
        if args.json is not None:
            everything = {"baseline": short, "head": head, "dirty": dirty, **results}
            args.json.write_text(json.dumps(everything, indent=1))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"\nbench took {time.monotonic() - t_start:.0f} s; load average now {load} "
            f"({os.cpu_count()} CPUs)"
        )
        measured = all(results[n] and all("error" not in r for r in results[n].values()) for n in results)
        return 0 if measured else 1
    finally:
        if services_proc is not None:
            _stop(services_proc)
        subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=False)
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
