"""SkyPilot's optimizer on the benchmark's tasks, offline: the sidecar of
``bench_placement_vs_skypilot.py``, run by a Python that has ``skypilot`` installed (a virtual
environment of its own, outside the repository). Nothing in aiplane imports it.

It lays the catalog files out where SkyPilot reads them (``~/.sky/catalogs/v8/<cloud>/vms.csv``
in a temporary HOME, freshly written so that no refresh is due), refuses every network
connection (a socket guard: the catalog is never downloaded, no usage report is sent), and
tells SkyPilot which clouds are enabled without credentials (the enabled-clouds check is
patched). Each task becomes a ``sky.Task`` with ``num_nodes`` and one ``sky.Resources`` per
allowed cloud (``accelerators``, ``use_spot``, ``infra`` = cloud or cloud/region), and
``sky.Optimizer.optimize(dag, quiet=True)`` picks. One JSON line per task: the instance type,
cloud, region, hourly cost for all nodes (nodes x instance price) and the optimisation time.

Azure's catalog writes its ``Generation`` list unquoted (``V1,V2``): such rows have more fields
than the header, which pandas refuses, so the trailing fields are joined back into one quoted
field. No price is changed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

CLOUDS = ("gcp", "azure", "lambda", "vast")
BLOCKED: list[str] = []


def _guard_network() -> None:
    """Every connection outside a Unix socket fails, and is counted."""
    original = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family == socket.AF_UNIX:
            original(self, address)
            return
        BLOCKED.append(repr(address))
        raise OSError(f"network disabled by the benchmark: {address!r}")

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]

    def no_dns(*args: Any, **_kwargs: Any) -> Any:
        BLOCKED.append(f"getaddrinfo{args[:2]!r}")
        raise socket.gaierror("network disabled by the benchmark")

    socket.getaddrinfo = no_dns


def _fixed_csv(path: Path) -> str:
    """The CSV with rows longer than the header folded into the last column."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    width = len(rows[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        folded = row if len(row) <= width else [*row[: width - 1], ",".join(row[width - 1 :])]
        writer.writerow(folded)
    return out.getvalue()


def spot_clouds(catalog: Path) -> set[str]:
    """Clouds whose catalog has a spot price above zero somewhere. Vast writes ``0.00`` where
    there is no spot market, which SkyPilot would take as a free instance."""
    found = set()
    for cloud in CLOUDS:
        source = catalog / f"{cloud}.csv"
        if source.is_file():
            for row in csv.DictReader(io.StringIO(source.read_text(encoding="utf-8-sig"))):
                try:
                    if float(row.get("SpotPrice") or 0) > 0:
                        found.add(cloud)
                        break
                except ValueError:
                    continue
    return found


def lay_out_catalog(catalog: Path, home: Path) -> None:
    root = home / ".sky" / "catalogs" / "v8"
    for cloud in CLOUDS:
        source = catalog / f"{cloud}.csv"
        if source.is_file():
            (root / cloud).mkdir(parents=True, exist_ok=True)
            (root / cloud / "vms.csv").write_text(_fixed_csv(source))
    common = catalog / "common_accelerators.csv"
    if common.is_file():
        (root / "common").mkdir(parents=True, exist_ok=True)
        shutil.copy(common, root / "common" / "accelerators.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--tasks", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3, help="runs per task; the fastest counts")
    args = parser.parse_args()
    tasks = json.loads(args.tasks.read_text())
    home = Path(tempfile.mkdtemp(prefix="sky-home-"))
    try:
        lay_out_catalog(args.catalog, home)
        os.environ["HOME"] = str(home)
        os.environ.pop("SKY_RUNTIME_DIR", None)
        os.environ["SKYPILOT_DISABLE_USAGE_COLLECTION"] = "1"
        os.environ["SKYPILOT_DEBUG"] = "0"
        _guard_network()
        run_tasks(tasks, spot_clouds(args.catalog), args.repeat)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def optimize_once(
    sky: Any, exceptions: Any, task: dict[str, Any], resources: list[Any]
) -> dict[str, Any]:
    """SkyPilot's pick for one task: a fresh DAG, optimised for cost."""
    try:
        with sky.Dag() as dag:
            t = sky.Task(name="bench", run="true", num_nodes=task["nodes"])
            t.set_resources(set(resources) if len(resources) > 1 else resources[0])
        sky.Optimizer.optimize(dag, quiet=True)
    except exceptions.ResourcesUnavailableError as exc:
        text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        return {"feasible": False, "reason": text}
    except Exception as exc:  # noqa: BLE001 - a task SkyPilot cannot validate: infeasible
        return {"feasible": False, "reason": f"{type(exc).__name__}: {str(exc)[:300]}"}
    best = t.best_resources
    price = best.get_cost(3600)  # one instance for an hour
    return {
        "feasible": True,
        "instance_type": best.instance_type,
        "cloud": str(best.cloud).lower(),
        "region": best.region,
        "zone": best.zone,
        "usd_per_instance_hour": round(price, 6),
        "usd_per_hour": round(price * task["nodes"], 6),
    }


def run_tasks(tasks: list[dict[str, Any]], with_spot: set[str], repeat: int) -> None:
    import importlib
    import logging

    # Imported by name: SkyPilot lives in its own environment, not in aiplane's (nor mypy's).
    sky: Any = importlib.import_module("sky")
    sky_check: Any = importlib.import_module("sky.check")
    clouds: Any = importlib.import_module("sky.clouds")
    exceptions: Any = importlib.import_module("sky.exceptions")
    sky_optimizer: Any = importlib.import_module("sky.optimizer")

    logging.disable(logging.WARNING)
    registry = {
        "gcp": clouds.GCP(),
        "azure": clouds.Azure(),
        "lambda": clouds.Lambda(),
        "vast": clouds.Vast(),
    }
    enabled = list(registry.values())

    def enabled_clouds(*_args: Any, **_kwargs: Any) -> list[Any]:
        return list(enabled)

    # No credentials here: these clouds count as enabled, wherever the optimizer asks.
    sky_check.get_cached_enabled_clouds_or_refresh = enabled_clouds
    sky_optimizer.sky_check.get_cached_enabled_clouds_or_refresh = enabled_clouds

    version = getattr(sky, "__version__", "unknown")
    for task in tasks:
        names = [c for c in task["clouds"] or CLOUDS if not task["spot"] or c in with_spot]
        regions = task["regions"] or [None]
        resources = [
            sky.Resources(
                infra=f"{cloud}/{region}" if region else cloud,
                accelerators={task["accelerator"]: task["gpus"]},
                use_spot=task["spot"],
            )
            for cloud in names
            for region in regions
        ]
        row: dict[str, Any] = {"name": task["name"], "version": version}
        if not names:
            row.update(feasible=False, ms=None, reason="no allowed cloud has spot prices")
        else:
            # The fastest of ``repeat`` runs: the machine is shared, and the least disturbed
            # run is the best measure of the optimizer's own work.
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                row.update(optimize_once(sky, exceptions, task, resources))
                times.append((time.perf_counter() - start) * 1000)
            row["ms"] = min(times)
        row["network_blocked"] = len(BLOCKED)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
