"""Generation benchmark: our generator against three competing OpenAPI generators.

Every tool runs as a whole process (interpreter start-up, YAML parsing,
generation, formatting, writing) on LaunchDarkly's full OpenAPI document
(../shared/reference/launchdarkly-openapi.yaml, read in place, never copied),
into a fresh temporary directory, ``--runs`` times, in rounds so that slow
drift of the machine hits every tool alike. Wall clock is
``time.perf_counter()`` around ``subprocess.run``; creating and deleting the
temporary directories is outside the timed span.

Tools (each from its own pinned venv, see bench/requirements-bench-*.in):

* datamodel-codegen: models only, its defaults (black + isort formatting,
  timestamp header), ``--input-file-type openapi``.
* fastapi-codegen: its defaults (models + FastAPI app).
* openapi-python-client: ``generate --path --output-path --overwrite``, its
  defaults. Those include post-hooks ``ruff check --fix-only .`` and
  ``ruff format .``; there is no command-line flag to skip them (only a
  config file with ``post_hooks: []``), so they run, with the ruff pinned in
  its venv.
* ours, cold: ``python -m generator --spec SPEC --out DIR`` into a fresh DIR.
* ours, no-op: the same command again into the same DIR, input unchanged.

The script reports and does not assert: it exits 1 only when a tool failed
(non-zero exit or time-out), 2 when the harness cannot run at all; missed
targets are printed and written to the JSON as ``met: false``.

Each command runs in a network namespace of its own with no interface but
loopback (``unshare --net``) when that is available, so no tool can reach the
network; ``--net host`` turns that off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT.parent / "shared" / "reference" / "launchdarkly-openapi.yaml"
DEFAULT_JSON = ROOT / "bench" / "results" / "generate.json"
OURS_PYTHON = ROOT / ".venv" / "bin" / "python"

TARGET_RATIO = 0.35  # ours (cold, median) / fastest competitor (median); issue #11
TARGET_NOOP_S = 0.3  # ours, no-op re-run (median)


@dataclass
class Tool:
    name: str
    venv: Path
    package: str  # distribution whose version is reported
    # argv with {spec} and {out} placeholders; argv[0] is looked up in venv/bin
    argv: list[str]
    out_name: str  # name of the output path inside the fresh temp dir
    cwd: Path | None = None  # None: the fresh temp dir
    competitor: bool = True


@dataclass
class Result:
    name: str
    version: str
    command: str
    times: list[float] = field(default_factory=list)
    status: str = "ok"
    failed: bool = False
    notes: list[str] = field(default_factory=list)
    output_files: int | None = None
    output_bytes: int | None = None
    competitor: bool = True

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def min(self) -> float | None:
        return min(self.times) if self.times else None


def competitors() -> list[Tool]:
    return [
        Tool(
            "datamodel-codegen",
            ROOT / ".venv-bench-datamodel-codegen",
            "datamodel-code-generator",
            [
                "datamodel-codegen",
                "--input", "{spec}",
                "--input-file-type", "openapi",
                "--output", "{out}",
            ],
            "models.py",
        ),
        Tool(
            "fastapi-codegen",
            ROOT / ".venv-bench-fastapi-codegen",
            "fastapi-code-generator",
            ["fastapi-codegen", "--input", "{spec}", "--output", "{out}"],
            "app",
        ),
        Tool(
            "openapi-python-client",
            ROOT / ".venv-bench-openapi-python-client",
            "openapi-python-client",
            [
                "openapi-python-client", "generate",
                "--path", "{spec}",
                "--output-path", "{out}",
                "--overwrite",
            ],
            "client",
        ),
    ]


def ours() -> Tool:
    return Tool(
        "ours",
        ROOT / ".venv",
        "expiring-targets-kit",
        ["python", "-m", "generator", "--spec", "{spec}", "--out", "{out}"],
        "generated",
        cwd=ROOT,
        competitor=False,
    )


def net_prefix(mode: str) -> tuple[list[str], str]:
    if mode == "host":
        return [], "host network"
    unshare = shutil.which("unshare")
    if unshare:
        probe = subprocess.run([unshare, "--net", "true"], check=False, capture_output=True)
        if probe.returncode == 0:
            return [unshare, "--net"], "isolated: unshare --net (loopback only)"
    if mode == "isolated":
        sys.exit("bench_generate: --net isolated asked for, but `unshare --net` does not work here")
    return [], "host network (unshare --net unavailable)"


def tool_env(venv: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    return env


def package_version(venv: Path, package: str) -> str:
    if package == "expiring-targets-kit":  # not installed into its venv; read pyproject
        try:
            import tomllib

            data = tomllib.loads((ROOT / "pyproject.toml").read_text())
            return str(data["project"]["version"])
        except Exception:  # noqa: BLE001 - a version is informative only
            return "?"
    python = venv / "bin" / "python"
    if not python.exists():  # not built yet: the tool is reported as not installed
        return "?"
    proc = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        check=False, capture_output=True, text=True,
    )
    return proc.stdout.strip() if proc.returncode == 0 else "?"


def first_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The line that says what went wrong: the exception of a traceback, else
    the first non-empty line of stderr (stdout if stderr is empty)."""
    text = proc.stderr.strip() or proc.stdout.strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return f"exit code {proc.returncode}, no output"
    if "Traceback (most recent call last):" in text:
        return lines[-1][:300]
    return lines[0][:300]


def snapshot(path: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime_ns) of every file under path."""
    if path.is_file():
        st = path.stat()
        return {path.name: (st.st_size, st.st_mtime_ns)}
    out = {}
    for p in path.rglob("*"):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(path))] = (st.st_size, st.st_mtime_ns)
    return out


def run_timed(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> tuple[float, subprocess.CompletedProcess[str] | None]:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            argv, check=False, cwd=cwd, env=env, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t0, None
    return time.perf_counter() - t0, proc


def fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per tool (default 3)")
    ap.add_argument("--spec", type=Path, default=DEFAULT_SPEC,
                    help="OpenAPI document (default: ../shared/reference/launchdarkly-openapi.yaml)")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON,
                    help="where to write results (default: bench/results/generate.json)")
    ap.add_argument("--only", default="",
                    help="comma-separated subset of: datamodel-codegen, fastapi-codegen, "
                         "openapi-python-client, ours")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds before one run counts as failed (default 900)")
    ap.add_argument("--net", choices=["auto", "isolated", "host"], default="auto",
                    help="run tools in a loopback-only network namespace (auto: if possible)")
    args = ap.parse_args(argv)

    if args.runs < 1:
        ap.error("--runs must be >= 1")
    spec = args.spec.resolve()
    if not spec.is_file():
        print(f"bench_generate: spec not found: {spec}", file=sys.stderr)
        return 2

    tools = [*competitors(), ours()]
    if args.only:
        wanted = {s.strip() for s in args.only.split(",") if s.strip()}
        unknown = wanted - {t.name for t in tools}
        if unknown:
            ap.error(f"unknown tool(s) in --only: {', '.join(sorted(unknown))}")
        tools = [t for t in tools if t.name in wanted]

    prefix, net_desc = net_prefix(args.net)
    spec_bytes = spec.read_bytes()
    print(f"spec: {spec} ({len(spec_bytes) / 1e6:.1f} MB, "
          f"sha256 {hashlib.sha256(spec_bytes).hexdigest()[:12]})")
    print(f"runs: {args.runs}; network: {net_desc}; cores: {os.cpu_count()}")

    results: dict[str, Result] = {}
    runnable: list[Tool] = []
    for t in tools:
        exe = t.venv / "bin" / t.argv[0]
        shown = " ".join(t.argv).replace("{spec}", "SPEC").replace("{out}", "OUT")
        if t.name == "ours":
            results["ours-cold"] = Result("ours (cold)", package_version(t.venv, t.package),
                                          shown, competitor=False)
            results["ours-noop"] = Result("ours (no-op re-run)", results["ours-cold"].version,
                                          shown, competitor=False)
        else:
            results[t.name] = Result(t.name, package_version(t.venv, t.package), shown)
        if not exe.exists():
            msg = f"not installed: {exe} missing (run `make bench-generate`)"
            for key in (["ours-cold", "ours-noop"] if t.name == "ours" else [t.name]):
                results[key].status, results[key].failed = f"failed: {msg}", True
            continue
        runnable.append(t)

    for i in range(args.runs):
        for t in runnable:
            keys = ["ours-cold", "ours-noop"] if t.name == "ours" else [t.name]
            if results[keys[0]].failed:
                continue  # one failure is enough; do not spend minutes repeating it
            tmp = Path(tempfile.mkdtemp(prefix=f"bench-gen-{t.name}-"))
            try:
                out = tmp / t.out_name
                cmd = [str(t.venv / "bin" / t.argv[0]), *t.argv[1:]]
                cmd = [a.replace("{spec}", str(spec)).replace("{out}", str(out)) for a in cmd]
                env = tool_env(t.venv)
                cwd = t.cwd or tmp
                passes = [("cold", keys[0])] + ([("noop", keys[1])] if len(keys) > 1 else [])
                before: dict[str, tuple[int, int]] = {}
                for kind, key in passes:
                    res = results[key]
                    if kind == "noop":
                        before = snapshot(out) if out.exists() else {}
                    elapsed, proc = run_timed(prefix + cmd, cwd, env, args.timeout)
                    label = f"  run {i + 1}/{args.runs} {res.name:<24}"
                    if proc is None:
                        res.failed, res.status = True, f"failed: timed out after {args.timeout:.0f} s"
                        print(f"{label} TIMEOUT", flush=True)
                        break
                    if proc.returncode != 0:
                        res.failed = True
                        res.status = f"failed (exit {proc.returncode}): {first_error_line(proc)}"
                        print(f"{label} FAILED {res.status}", flush=True)
                        break
                    if not out.exists():
                        res.failed, res.status = True, f"failed: exit 0 but {t.out_name} not written"
                        print(f"{label} FAILED {res.status}", flush=True)
                        break
                    res.times.append(elapsed)
                    print(f"{label} {elapsed:8.3f} s", flush=True)
                    after = snapshot(out)
                    res.output_files = len(after)
                    res.output_bytes = sum(s for s, _ in after.values())
                    combined = proc.stdout + proc.stderr
                    if t.name == "openapi-python-client":
                        n_warn = sum(1 for ln in combined.splitlines() if ln.startswith("WARNING"))
                        if n_warn:
                            note = f"{n_warn} warnings (parts left out of the client)"
                            if note not in res.notes:
                                res.notes.append(note)
                        if "Skipping Integration" in combined:
                            note = "post-hooks skipped: ruff not on PATH"
                            if note not in res.notes:
                                res.notes.append(note)
                    if kind == "noop":
                        changed = sorted(k for k in set(before) | set(after)
                                         if before.get(k) != after.get(k))
                        if changed:
                            note = f"re-run touched {len(changed)} file(s), e.g. {changed[0]}"
                            if note not in res.notes:
                                res.notes.append(note)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    cold_res, noop_res = results.get("ours-cold"), results.get("ours-noop")
    if cold_res and noop_res and cold_res.failed and not noop_res.failed:
        noop_res.failed, noop_res.status = True, "not run: the cold run failed"
    for res in results.values():
        if not res.failed and res.notes:
            res.status = "ok; " + "; ".join(res.notes)

    # ---- summary -------------------------------------------------------------
    def ok_median(r: Result | None) -> float | None:
        return None if r is None or r.failed else r.median

    medians = {r.name: m for r in results.values()
               if r.competitor and (m := ok_median(r)) is not None}
    fastest = min(medians, key=medians.__getitem__) if medians else None
    cold_median = ok_median(results.get("ours-cold"))
    ratio = None
    if fastest is not None and cold_median is not None:
        ratio = cold_median / medians[fastest]
    noop_median = ok_median(results.get("ours-noop"))

    rows = [(r.name, r.version, fmt_s(r.median), fmt_s(r.min), str(len(r.times)), r.status)
            for r in results.values()]
    head = ("tool", "version", "median s", "min s", "runs", "status")
    widths = [max(len(h), *(len(row[c]) for row in rows)) for c, h in enumerate(head[:-1])]
    line = "  ".join(h.ljust(w) for h, w in zip(head[:-1], widths)) + "  " + head[-1]
    print()
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row[:-1], widths)) + "  " + row[-1])
    print()
    if ratio is not None:
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(f"ours cold / fastest competitor ({fastest}): {ratio:.3f} "
              f"(target <= {TARGET_RATIO}: {verdict})")
    else:
        print("ours cold / fastest competitor: n/a (no successful pair of runs)")
    if noop_median is not None:
        verdict = "met" if noop_median <= TARGET_NOOP_S else "MISSED"
        print(f"ours no-op re-run: {noop_median:.3f} s (target <= {TARGET_NOOP_S} s: {verdict})")
    else:
        print("ours no-op re-run: n/a")

    try:
        spec_shown = os.path.relpath(spec, ROOT)
    except ValueError:
        spec_shown = str(spec)
    report = {
        "date": dt.date.today().isoformat(),
        "spec": {
            "path": spec_shown,
            "bytes": len(spec_bytes),
            "sha256": hashlib.sha256(spec_bytes).hexdigest(),
        },
        "runs": args.runs,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
        },
        "network": net_desc,
        "method": "whole process, wall clock (time.perf_counter around subprocess.run), "
                  "fresh temp dir per run; no-op = second run of ours into the same dir",
        "tools": [
            {
                "name": r.name,
                "version": r.version,
                "command": r.command,
                "competitor": r.competitor,
                "times_s": [round(t, 3) for t in r.times],
                "median_s": None if r.median is None else round(r.median, 3),
                "min_s": None if r.min is None else round(r.min, 3),
                "status": r.status,
                "output_files": r.output_files,
                "output_bytes": r.output_bytes,
            }
            for r in results.values()
        ],
        "targets": {
            "cold_ratio_vs_fastest_competitor": {
                "fastest_competitor": fastest,
                "value": None if ratio is None else round(ratio, 3),
                "target_max": TARGET_RATIO,
                "met": None if ratio is None else ratio <= TARGET_RATIO,
            },
            "noop_rerun_s": {
                "value": None if noop_median is None else round(noop_median, 3),
                "target_max": TARGET_NOOP_S,
                "met": None if noop_median is None else noop_median <= TARGET_NOOP_S,
            },
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    shown_json = args.json.resolve()
    if shown_json.is_relative_to(Path.cwd()):
        shown_json = shown_json.relative_to(Path.cwd())
    print(f"\nwrote {shown_json}")

    return 1 if any(r.failed for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
