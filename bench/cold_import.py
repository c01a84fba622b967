"""Cold start of the control plane: `import app` in fresh interpreters, its worst imports, package sizes.

    .venv/bin/python bench/cold_import.py [--runs 20] [--wall] [--pip]

Import time is the CPU time (user + system) of each fresh interpreter by default: on a shared machine
wall time mostly measures the neighbours; ``--wall`` prints wall time instead. Prints figures; asserts
nothing. ``--pip`` also installs requirements.txt into a temp dir with ``pip install --target`` (needs
PyPI) and measures it; without it, sizes come from the installed distributions' RECORD files (the same
packages chalice would ship).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What Lambda would see: dummy credentials and region, the deployed stage's Powertools settings.
ENV = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
       "POWERTOOLS_SERVICE_NAME": "voice-api", "PYTHONDONTWRITEBYTECODE": "0"}


def _run(code: str) -> tuple[float, float]:
    """(wall ms, CPU ms) of one fresh interpreter running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, check=True)  # noqa: S603 - this interpreter on a fixed snippet
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def _time(code: str, runs: int, wall: bool) -> list[float]:
    return [_run(code)[0 if wall else 1] for _ in range(runs)]


# What the first request of a cold API function imports on top of `import app` (services, storage,
# pynamodb/botocore, settings): the work moved out of import, paid once by the routes that need it.
FIRST_REQUEST = ("import app; import chalicelib.services.assistants, chalicelib.settings, "
                 "chalicelib.services.auth; chalicelib.settings.get_settings()")


def cold_import(runs: int, wall: bool) -> None:
    _time("import app", 1, wall)  # warm the .pyc cache once, as a deployed package has compiled files
    kind = "wall" if wall else "CPU"
    base = _time("pass", runs, wall)
    app = _time("import app", runs, wall)
    first = _time(FIRST_REQUEST, runs, wall)
    print(f"## Cold `import app` ({runs} fresh processes, {kind} time)")
    print(f"interpreter alone          median {statistics.median(base):7.1f} ms")
    mid = statistics.median
    print(f"python -c 'import app'     median {mid(app):7.1f} ms  (min {min(app):.1f}, max {max(app):.1f})")
    print(f"import app only            median {mid(app) - mid(base):7.1f} ms  (goal < 200 ms)")
    print(f"+ first request's imports  median {statistics.median(first) - statistics.median(base):7.1f} ms  "
          "(services, storage, botocore, settings: paid by the first request that needs them)")


def import_offenders(top: int = 15) -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    by_package: dict[str, int] = defaultdict(int)
    for self_us, _, _, name in rows:
        pkg = name.split(".")[0]
        if pkg == "chalicelib":
            pkg = ".".join(name.split(".")[:2])
        by_package[pkg] += self_us
    print(f"\n## -X importtime: self time by package (top {top})")
    total = sum(by_package.values())
    for pkg, us in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{us / 1000:8.1f} ms  {100 * us / total:5.1f}%  {pkg}")
    print(f"{total / 1000:8.1f} ms  total self time")
    print(f"\n## -X importtime: cumulative, modules imported directly by app and chalicelib (top {top})")
    firsts = [r for r in rows if r[2] <= 2 and (r[3].startswith("chalicelib") or r[2] <= 1)]
    for self_us, cum_us, _, name in sorted(firsts, key=lambda r: -r[1])[:top]:
        print(f"{cum_us / 1000:8.1f} ms cumulative  {self_us / 1000:6.1f} ms self  {name}")


def _requirements(path: Path | None = None) -> list[str]:
    names = []
    for line in (path or ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0])
    return names


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names: list[str]) -> dict[str, metadata.Distribution]:
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            todo.append(re.split(r"[<>=!~\[; (]", req, maxsplit=1)[0])
    return seen


def _dist_size(dist: metadata.Distribution) -> int:
    total = 0
    for f in dist.files or []:
        path = Path(str(dist.locate_file(f)))
        if path.is_file() and "__pycache__" not in path.parts:
            total += path.stat().st_size
    return total


def deps_size(use_pip: bool) -> None:
    dists = _closure(_requirements())
    sizes = sorted(((_dist_size(d), name) for name, d in dists.items()), reverse=True)
    total = sum(s for s, _ in sizes)
    runtime = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
    in_runtime = sum(s for s, n in sizes if n in runtime)
    print(f"\n## Lambda dependencies (requirements.txt + transitive: {len(sizes)} distributions, no .pyc)")
    for size, name in sizes[:15]:
        print(f"{size / 1e6:8.1f} MB  {name}")
    print(f"{total / 1e6:8.1f} MB  total unzipped ({(total - in_runtime) / 1e6:.1f} MB without boto3/botocore & co, "
          "which the Lambda Python runtime already has)")
    print("Lambda limit: 250 MB unzipped for function + layers.")
    if use_pip:
        target = Path(tempfile.mkdtemp(prefix="lambda-deps-"))
        try:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--target", str(target),  # noqa: S603 - this interpreter on a fixed snippet
                            "-r", str(ROOT / "requirements.txt")], check=True)
            size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
            print(f"pip install --target: {size / 1e6:.1f} MB unzipped")
            archive = shutil.make_archive(str(target) + "-zip", "zip", target)
            print(f"zipped: {os.path.getsize(archive) / 1e6:.1f} MB")
            os.unlink(archive)
        finally:
            shutil.rmtree(target, ignore_errors=True)


def function_sizes() -> None:
    """Unzipped size of what each function ships: the shared package plus its layers (infra/layers.py)."""
    sys.path.insert(0, str(ROOT))
    from infra import layers

    runtime = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
    base = sum(_dist_size(d) for n, d in _closure(_requirements()).items() if n not in runtime)
    layer_mb = {}
    for name in layers.layer_names():
        dists = [metadata.distribution(n) for n in _requirements(layers.requirements_file(name))]
        layer_mb[name] = sum(_dist_size(d) for d in dists)
    print("\n## Package per function (shared requirements.txt + its layers, unzipped, no boto/.pyc)")
    print(f"{'':22s} shared {base / 1e6:5.1f} MB; layers: "
          + ", ".join(f"{n} {size / 1e6:.1f} MB" for n, size in layer_mb.items()))
    for function_id, needed in sorted(layers.FUNCTION_LAYERS.items()):
        total = base + sum(layer_mb[n] for n in needed)
        print(f"{function_id:22s} {total / 1e6:6.1f} MB  {' + '.join(needed) or '(shared only)'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--wall", action="store_true", help="wall time instead of CPU time")
    parser.add_argument("--pip", action="store_true", help="also pip install --target into a temp dir")
    args = parser.parse_args()
    cold_import(args.runs, args.wall)
    import_offenders()
    deps_size(args.pip)
    function_sizes()


if __name__ == "__main__":
    main()
