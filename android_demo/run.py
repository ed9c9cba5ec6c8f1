"""Run the EdgeVFI phone benchmark over adb and print it beside the host's figures.

    python android_demo/run.py BUNDLE --backend et --size 1280x720 --threads 4 --runs 20 \\
        [--serial SERIAL] [--apk app-debug.apk] [--host-json host.json | --no-host] [--out phone.json]

Pushes the bundle's manifest and the chosen backend's graphs to /data/local/tmp/edgevfi/bundle,
optionally installs the APK, starts ``dev.edgevfi.demo/.BenchActivity``, polls for the result,
pulls it, checks it against ``schemas/bench.schema.json`` and prints a phone-vs-host table. Host
figures come from ``--host-json`` (written by ``edgevfi bench ... --json``) or from running
``edgevfi bench`` here with the same backend, size, threads and runs.

Bad input or a missing adb/device gives one line on stderr and a non-zero exit (2 for usage and
environment problems, 1 for a failed run), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schemas" / "bench.schema.json"
PACKAGE = "dev.edgevfi.demo"
ACTIVITY = f"{PACKAGE}/.BenchActivity"
REMOTE_DIR = "/data/local/tmp/edgevfi"
BACKENDS = ("et", "litert")
#: Named sizes (W, H): the same names as ``edgevfi bench --size`` and the app's parser.
SIZES = {
    "360p": (640, 360),
    "480p": (854, 480),
    "540p": (960, 540),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "4k": (3840, 2160),
    "2160p": (3840, 2160),
}


class RunError(Exception):
    """A one-line, user-facing failure; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def parse_size(text: str) -> tuple[int, int]:
    """``720p`` / ``1080p`` / ``4k`` / ``WxH`` → (W, H), with the host bench's rules and messages."""
    key = text.strip().lower()
    if key in SIZES:
        return SIZES[key]
    m = re.fullmatch(r"(\d+)\s*[x×]\s*(\d+)", key)
    if not m:
        raise RunError(f"unknown size {text!r} (use {', '.join(SIZES)} or WxH like 1280x720)", 2)
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise RunError(f"size must be between 16x16 and 8192x8192, got {text!r}", 2)
    return w, h


def build_parser() -> argparse.ArgumentParser:
    """The command line (exposed for tests)."""
    ap = argparse.ArgumentParser(
        prog="android_demo/run.py",
        description="Benchmark a bundle on an Android phone over adb and compare with the host.",
    )
    ap.add_argument("bundle", type=Path, help="bundle folder (manifest.json + per-backend graphs)")
    ap.add_argument("--backend", required=True, choices=BACKENDS, help="runtime on the phone")
    ap.add_argument("--size", default="1280x720", help="output frame size: 720p, 1080p, 4k or WxH (default 1280x720)")
    ap.add_argument("--threads", type=int, default=4, help="CPU threads on the phone and the host (default 4)")
    ap.add_argument("--runs", type=int, default=20, help="timed calls per graph (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls before timing (default 3)")
    ap.add_argument("--serial", help="adb device serial (needed when several devices are attached)")
    ap.add_argument("--apk", type=Path, help="install this APK first (adb install -r)")
    ap.add_argument("--frames", nargs=2, type=Path, metavar=("PNG0", "PNG1"), help="real frames instead of synthetic")
    host = ap.add_mutually_exclusive_group()
    host.add_argument("--host-json", type=Path, help="host figures from `edgevfi bench ... --json FILE`")
    host.add_argument("--no-host", action="store_true", help="show the phone's figures only")
    ap.add_argument("--out", type=Path, help="where to save the phone's JSON (default phone-BACKEND-WxH.json)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the phone (default 1800)")
    return ap


def check_args(args: argparse.Namespace) -> tuple[int, int]:
    """Validate what can be checked without a device; returns (W, H)."""
    size = parse_size(args.size)
    if args.threads < 1 or args.runs < 1 or args.warmup < 0:
        raise RunError("--threads and --runs must be ≥ 1 and --warmup ≥ 0", 2)
    mf = args.bundle / "manifest.json"
    if not args.bundle.is_dir():
        raise RunError(f"{args.bundle}: no such bundle folder", 2)
    if not mf.is_file():
        raise RunError(f"{args.bundle}: not a bundle (no manifest.json)", 2)
    try:
        manifest = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{mf}: unreadable manifest ({e})", 2) from None
    have = manifest.get("backends", {}) if isinstance(manifest, dict) else {}
    if args.backend not in have:
        listed = ", ".join(have) or "none"
        raise RunError(f"{args.bundle}: bundle has no {args.backend} artifacts (it has: {listed})", 2)
    if args.apk is not None and not args.apk.is_file():
        raise RunError(f"{args.apk}: no such APK", 2)
    for p in args.frames or ():
        if not p.is_file():
            raise RunError(f"{p}: no such frame", 2)
    if args.host_json is not None:
        load_result(args.host_json, "host")
    return size


def load_result(path: Path, what: str) -> dict[str, Any]:
    """Read and schema-check a bench JSON."""
    try:
        result = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: no such {what} result", 2) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: not JSON ({e})", 2) from None
    validate(result, f"{path}", code=2)
    return result


def validate(result: Any, where: str, code: int = 1) -> None:
    """Check ``result`` against schemas/bench.schema.json (skipped with a warning without jsonschema);
    ``code`` is the exit status of a :class:`RunError` for an invalid one."""
    try:
        import jsonschema
    except ImportError:
        print("warning: jsonschema is not installed; results are not schema-checked", file=sys.stderr)
        return
    try:
        jsonschema.validate(result, json.loads(SCHEMA_PATH.read_text()))
    except jsonschema.ValidationError as e:
        at = "/".join(str(p) for p in e.absolute_path) or "top level"
        raise RunError(f"{where}: not a valid bench result at {at}: {e.message}", code) from None


class Adb:
    """``adb`` (optionally ``-s SERIAL``) with one-line errors."""

    def __init__(self, serial: str | None) -> None:
        exe = shutil.which("adb")
        if exe is None:
            raise RunError("adb not found on PATH: install Android platform-tools (sdkmanager 'platform-tools')", 2)
        self.exe = exe
        self.serial = serial

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        cmd = [self.exe, *(["-s", self.serial] if self.serial else []), *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RunError(f"adb {' '.join(args)}: timed out after {timeout:.0f} s") from None
        if check and proc.returncode != 0:
            err = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
            raise RunError(f"adb {' '.join(args)} failed: {err[-1] if err else f'exit {proc.returncode}'}")
        return proc

    def shell(self, command: str, check: bool = True) -> str:
        return self.run("shell", command, check=check).stdout.decode(errors="replace")

    def pick_device(self) -> None:
        """Require one ready device (or the one named by --serial)."""
        out = subprocess.run([self.exe, "devices"], capture_output=True, text=True, timeout=60).stdout
        ready = [ln.split()[0] for ln in out.splitlines()[1:] if ln.strip().endswith("\tdevice")]
        if self.serial:
            if self.serial not in ready:
                listed = ", ".join(ready) or "none"
                raise RunError(f"device {self.serial} is not attached and ready (ready: {listed})", 2)
        elif not ready:
            raise RunError("no Android device attached and ready (adb devices lists none; enable USB debugging)", 2)
        elif len(ready) > 1:
            raise RunError(f"several devices attached ({', '.join(ready)}): choose one with --serial", 2)


def read_remote(adb: Adb, name: str) -> str | None:
    """The app's result file: its files dir via run-as (debug APK), else its external files dir."""
    proc = adb.run("exec-out", "run-as", PACKAGE, "cat", f"files/{name}", check=False)
    if proc.returncode == 0 and proc.stdout:
        return proc.stdout.decode(errors="replace")
    proc = adb.run("exec-out", "cat", f"/sdcard/Android/data/{PACKAGE}/files/{name}", check=False)
    if proc.returncode == 0 and proc.stdout and b"No such file" not in proc.stdout:
        return proc.stdout.decode(errors="replace")
    return None


def run_on_phone(args: argparse.Namespace, size: tuple[int, int]) -> dict[str, Any]:
    """Push, start, poll, pull: the phone's result dict."""
    adb = Adb(args.serial)
    adb.pick_device()
    if args.apk is not None:
        print(f"installing {args.apk}")
        adb.run("install", "-r", "-g", str(args.apk))
    if PACKAGE not in adb.shell(f"pm list packages {PACKAGE}", check=False):
        raise RunError(f"{PACKAGE} is not installed: build it (android_demo/README.md) and pass --apk", 2)
    remote = f"{REMOTE_DIR}/bundle"
    # Only the manifest and the chosen backend's graphs: the app verifies exactly those hashes.
    print(f"pushing {args.bundle} ({args.backend}) to {remote}")
    adb.shell(f"rm -rf {remote} && mkdir -p {remote}")
    adb.run("push", str(args.bundle / "manifest.json"), f"{remote}/manifest.json")
    adb.run("push", str(args.bundle / args.backend), f"{remote}/")
    extras = [
        "--es", "bundle", remote, "--es", "backend", args.backend, "--es", "size", f"{size[0]}x{size[1]}",
        "--ei", "threads", str(args.threads), "--ei", "runs", str(args.runs), "--ei", "warmup", str(args.warmup),
        "--es", "out", "bench.json",
    ]  # fmt: skip
    if args.frames:
        for k, p in enumerate(args.frames):
            adb.run("push", str(p), f"{REMOTE_DIR}/frame{k}.png")
            extras += ["--es", f"frame{k}", f"{REMOTE_DIR}/frame{k}.png"]
    adb.shell(f"chmod -R a+rX {REMOTE_DIR}", check=False)
    adb.shell(f"am force-stop {PACKAGE}")
    # Stale results from an earlier run must not be mistaken for this one.
    for name in ("bench.json", "bench.json.error"):
        adb.run("shell", "run-as", PACKAGE, "rm", "-f", f"files/{name}", check=False)
        adb.run("shell", "rm", "-f", f"/sdcard/Android/data/{PACKAGE}/files/{name}", check=False)
    print(f"starting {ACTIVITY}")
    adb.run("shell", "am", "start", "-W", "-n", ACTIVITY, *extras)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        err = read_remote(adb, "bench.json.error")
        if err:
            raise RunError(f"the phone reported: {err.strip()}")
        text = read_remote(adb, "bench.json")
        if text:
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                pass  # still being written
        time.sleep(2)
    raise RunError(f"no result after {args.timeout:.0f} s (adb logcat -s EdgeVFI shows the app's progress)")


def run_host(args: argparse.Namespace, size: tuple[int, int]) -> dict[str, Any] | None:
    """``edgevfi bench`` on this machine with the phone's settings; None (with a warning) if it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "host.json"
        cmd = [
            sys.executable, "-m", "edgevfi", "bench", str(args.bundle), "--backend", args.backend,
            "--size", f"{size[0]}x{size[1]}", "--threads", str(args.threads), "--runs", str(args.runs),
            "--warmup", str(args.warmup), "--json", str(out),
        ]  # fmt: skip
        print("host: " + " ".join(cmd[2:]))
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0 or not out.is_file():
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            why = lines[-1] if lines else f"exit {proc.returncode}"
            print(f"warning: host bench failed ({why}); showing the phone only", file=sys.stderr)
            return None
        return load_result(out, "host")


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "—"
    return f"{v:,.1f}{unit}" if abs(v) >= 10 else f"{v:.2f}{unit}"


def side_by_side(host: dict[str, Any] | None, phone: dict[str, Any]) -> str:
    """A plain-text table of two bench results (host may be None): times, memory, throughput, ratio."""

    def get(r: dict[str, Any] | None, *path: str) -> float | None:
        for p in path:
            if not isinstance(r, dict) or p not in r:
                return None
            r = r[p]
        return r if isinstance(r, int | float) else None

    rows: list[tuple[str, tuple[str, ...]]] = [
        ("load", ("load_ms",)),
        ("peak RSS (MB)", ("peak_rss_mb",)),
    ]
    for g in phone.get("graphs", {}):
        for key, label in (("p50_ms", "p50"), ("p90_ms", "p90"), ("trimmed_mean_ms", "trimmed mean")):
            rows.append((f"{g} {label}", ("graphs", g, key)))
        rows.append((f"{g} GMAC/s", ("graphs", g, "gmacs_per_s")))
    e = phone.get("end_to_end", {})
    for key, label in (("p50_ms", "p50"), ("p90_ms", "p90")):
        rows.append((f"frame {label}", ("end_to_end", key)))
    rows.append(("frame GMAC/s", ("end_to_end", "gmacs_per_s")))

    def describe(r: dict[str, Any] | None) -> str:
        if r is None:
            return "(no host figures)"
        d = r.get("device", {})
        return f"{d.get('model') or d.get('cpu', '?')} · {d.get('cores', '?')} cores · {r.get('threads')} threads"

    W, H = phone["size"]
    head = [
        f"{phone['backend']} · {W}x{H} · {e.get('synth_calls', '?')} windows · {phone['runs']} runs",
        f"host : {describe(host)}",
        f"phone: {describe(phone)}",
        "",
    ]
    table = [("", "host", "phone", "phone/host")]
    for label, path in rows:
        h, p = get(host, *path), get(phone, *path)
        unit = "" if "MB" in label or "GMAC" in label else " ms"
        ratio = f"{p / h:.2f}x" if h and p is not None else "—"
        table.append((label, _fmt(h, unit), _fmt(p, unit), ratio))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        for row in table
    ]
    return "\n".join(head + lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        size = check_args(args)
        host = load_result(args.host_json, "host") if args.host_json else None
        phone = run_on_phone(args, size)
        out = args.out or Path(f"phone-{args.backend}-{size[0]}x{size[1]}.json")
        out.write_text(json.dumps(phone, indent=2) + "\n")
        validate(phone, f"phone result ({out})")
        print(f"wrote {out}")
        if host is None and not args.no_host:
            host = run_host(args, size)
        print(side_by_side(host, phone), end="")
        return 0
    except RunError as e:
        print(f"run.py: error: {e}", file=sys.stderr)
        return e.code
    except OSError as e:
        print(f"run.py: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("run.py: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
