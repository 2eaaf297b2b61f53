"""Turns the figures of one `make bench` run into BENCHMARKS.md: machine, versions, each figure beside its
target, and how to reproduce it."""

import os
import platform
from importlib.metadata import version
from pathlib import Path

import psutil

from bench import sizes

# Everything from this line to the end of the existing report is written by hand (from other tools) and kept as
# it is when `make bench` rewrites the figures above it.
HAND_WRITTEN_MARKER = "<!-- Written by hand below this line: make bench keeps it as it is. -->"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def machine_section(results: dict) -> list[str]:
    load = os.getloadavg()
    return [
        "## Machine",
        "",
        f"- CPU: {cpu_model()}, {psutil.cpu_count()} cores; memory {psutil.virtual_memory().total / 2**30:.1f} GiB",
        f"- OS: {platform.platform()}; Python {platform.python_version()}",
        f"- Django {version('django')}, Celery {version('celery')}, kombu {version('kombu')}, "
        f"gunicorn {version('gunicorn')}, redis-py {version('redis')}, psycopg {version('psycopg')}",
        f"- Database: {results['database']}; broker and cache: {results['redis']}",
        f"- Run: {results['started']:%Y-%m-%d %H:%M} – {results['finished']:%H:%M} UTC; load average "
        f"(1, 5, 15 min) at the start {results['load_at_start']}, "
        f"at the end {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}",
        "",
    ]


def web_rows(web: dict) -> list[str]:
    w, wo = web["with"], web["without"]
    ratio = w["p50"] / wo["p50"]
    return [
        f"| 1 | Send invoice POST at {w['rate']:.0f} req/s ({w['sent']} requests), p50 | ≤ 10 ms | "
        f"{w['p50']:.1f} ms | {verdict(w['p50'] <= 10)} |",
        f"| 1 | same, p99 | ≤ 50 ms | {w['p99']:.1f} ms | {verdict(w['p99'] <= 50)} |",
        f"| 1 | same, errors | 0 | {w['errors']} | {verdict(w['errors'] == 0)} |",
        f"| 1 | same request without the enqueue, p50 / p99 | — | {wo['p50']:.1f} / {wo['p99']:.1f} ms "
        f"({wo['errors']} errors) | — |",
        f"| 1 | enqueue cost, p50 with ÷ p50 without | ≤ 1.3 | {ratio:.2f} | {verdict(ratio <= 1.3)} |",
        f"| 1 | diagnosis at {web['light_with']['rate']:.0f} req/s: with / without the enqueue, p50 | — | "
        f"{web['light_with']['p50']:.1f} / {web['light_without']['p50']:.1f} ms, ratio "
        f"{web['light_with']['p50'] / web['light_without']['p50']:.2f} | — |",
        f"| 7 | `/healthz` at {web['healthz']['rate']:.0f} req/s, p99 | ≤ 20 ms | {web['healthz']['p99']:.1f} ms "
        f"(p50 {web['healthz']['p50']:.1f}, {web['healthz']['errors']} errors) | "
        f"{verdict(web['healthz']['p99'] <= 20 and web['healthz']['errors'] == 0)} |",
        f"| 7 | `/orders/<pk>/jobs/` at {web['jobs']['rate']:.0f} req/s, p99 | ≤ 20 ms | {web['jobs']['p99']:.1f} ms "
        f"(p50 {web['jobs']['p50']:.1f}, {web['jobs']['errors']} errors) | "
        f"{verdict(web['jobs']['p99'] <= 20 and web['jobs']['errors'] == 0)} |",
    ]


def throughput_rows(throughput: dict) -> list[str]:
    ratio = throughput["project"] / throughput["bare"]
    return [
        f"| 2 | trivial task, project worker (2 processes) | — | {throughput['project']:.0f} tasks/s | — |",
        f"| 2 | trivial task, bare Celery app (2 processes) | — | {throughput['bare']:.0f} tasks/s | — |",
        f"| 2 | project ÷ bare | ≥ 0.8 | {ratio:.2f} | {verdict(ratio >= 0.8)} |",
        f"| 2 | project worker with `--prefetch-multiplier 4` (diagnosis) | — | "
        f"{throughput['project_prefetch_4']:.0f} tasks/s "
        f"({throughput['project_prefetch_4'] / throughput['bare']:.2f} of bare) | — |",
        f"| 2 | project worker with task events off (diagnosis) | — | "
        f"{throughput['project_without_events']:.0f} tasks/s "
        f"({throughput['project_without_events'] / throughput['bare']:.2f} of bare) | — |",
        f"| 2 | project worker, task base without its job rows (diagnosis) | — | "
        f"{throughput['project_without_job_rows']:.0f} tasks/s "
        f"({throughput['project_without_job_rows'] / throughput['bare']:.2f} of bare) | — |",
        f"| 2 | bare Celery app with task events on (`-E`, diagnosis: what events cost stock Celery) | — | "
        f"{throughput['bare_with_events']:.0f} tasks/s ({throughput['bare_with_events'] / throughput['bare']:.2f} "
        f"of bare; project ÷ this {throughput['project'] / throughput['bare_with_events']:.2f}) | — |",
        f"| 2 | bare Celery app with task events on, flushed every 50 ms (the project's consumer, diagnosis) | — | "
        f"{throughput['bare_with_batched_events']:.0f} tasks/s "
        f"({throughput['bare_with_batched_events'] / throughput['bare']:.2f} of bare) | — |",
        f"| 2 | trivial task with its result stored by django-celery-results | (report) | "
        f"{throughput['project_stored']:.0f} tasks/s | — |",
    ]


def realistic_rows(throughput: dict) -> list[str]:
    project, bare = throughput["project_realistic"], throughput["bare_realistic"]
    ratio = project / bare
    return [
        f"| 2 | realistic task (read a row, write a row, set a Redis key), project worker | — | "
        f"{project:.0f} tasks/s | — |",
        f"| 2 | realistic task, bare Celery app | — | {bare:.0f} tasks/s | — |",
        f"| 2 | realistic task, project ÷ bare | ≥ 0.95 | {ratio:.2f} | {verdict(ratio >= 0.95)} |",
    ]


def peer_rows(throughput: dict) -> list[str]:
    return [
        f"| 2 | trivial task, cookiecutter-django's Celery settings (peer) | — | {throughput['peer']:.0f} tasks/s; "
        f"project ÷ peer {throughput['project'] / throughput['peer']:.2f} | — |",
        f"| 2 | realistic task, cookiecutter-django's Celery settings (peer) | — | "
        f"{throughput['peer_realistic']:.0f} tasks/s; project ÷ peer "
        f"{throughput['project_realistic'] / throughput['peer_realistic']:.2f} | — |",
    ]


def enqueue_cost_rows(cost: dict) -> list[str]:
    outbox, insert, with_job, publish = (
        cost["outbox"],
        cost["insert_commit"],
        cost["insert_with_job_commit"],
        cost["bare_publish"],
    )
    return [
        f"| 3 | caller's time of one enqueue through the outbox in a transaction ({outbox['n']} samples), p50 | — | "
        f"{outbox['p50']:.2f} ms (p99 {outbox['p99']:.2f}) | — |",
        f"| 3 | same outbox row, bare INSERT + commit, no publish, p50 | — | {insert['p50']:.2f} ms "
        f"({insert['p50'] / outbox['p50'] * 100:.0f} % of the outbox's) | — |",
        f"| 3 | same with the job row the outbox writes beside it, p50 | — | {with_job['p50']:.2f} ms "
        f"({with_job['p50'] / outbox['p50'] * 100:.0f} % of the outbox's) | — |",
        f"| 3 | bare publish (`send_task` of the bare app), p50 | — | {publish['p50']:.2f} ms | — |",
    ]


def memory_rows(memory: dict) -> list[str]:
    final = max(memory["final_mb"])
    return [
        f"| 6 | RSS per pool process after the run | ≤ 120 MB | "
        f"{', '.join(f'{mb:.0f}' for mb in memory['final_mb'])} MB | {verdict(final <= 120)} |",
        f"| 6 | RSS growth from 5 % of the run to its end | ≤ 10 % | {memory['growth'] * 100:.1f} % | "
        f"{verdict(memory['growth'] <= 0.10)} |",
    ]


def latency_rows(latency: dict) -> list[str]:
    outbox, insert, publish = latency["outbox"], latency["insert_then_publish"], latency["publish"]
    return [
        f"| 3 | enqueue → task start on an idle worker, through the outbox ({outbox['n']} samples), p50 | ≤ 5 ms | "
        f"{outbox['p50']:.1f} ms (p99 {outbox['p99']:.1f}) | {verdict(outbox['p50'] <= 5)} |",
        f"| 3 | same, bare INSERT of the outbox row + commit, then publish (no job row, no mark), p50 | — | "
        f"{insert['p50']:.1f} ms (p99 {insert['p99']:.1f}) | — |",
        f"| 3 | same, publish only (`apply_async`, no outbox row), p50 | — | "
        f"{publish['p50']:.1f} ms (p99 {publish['p99']:.1f}) | — |",
    ]


def table_rows(rows: list[sizes.Row]) -> list[str]:
    return [
        f"| {number} | {what} | {target} | {measured} | {'—' if met is None else verdict(met)} |"
        for number, what, target, measured, met in rows
    ]


def hand_written_tail(path: Path) -> list[str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return lines[lines.index(HAND_WRITTEN_MARKER) :] if HAND_WRITTEN_MARKER in lines else []


def write_report(path: Path, results: dict, *, quick: bool) -> None:
    lines = ["# Benchmarks", ""]
    if quick:
        lines += [
            "**Quick run (`--quick`): short durations for debugging the harness; not the figures of record.**",
            "",
        ]
    lines += [
        "Written by `make bench` (bench/run.py); every figure below comes from that one run. Conditions: "
        + (results["note"] or "not described (pass `BENCH_ARGS='--note \"…\"'`)."),
        "",
    ]
    lines += machine_section(results)
    lines += ["## Figures", "", "| # | what | target | measured | |", "|---|---|---|---|---|"]
    if "web" in results:
        lines += web_rows(results["web"])
    if "throughput" in results:
        lines += throughput_rows(results["throughput"])
        lines += realistic_rows(results["throughput"])
        lines += peer_rows(results["throughput"])
    if "latency" in results:
        lines += latency_rows(results["latency"])
    if "enqueue_cost" in results:
        lines += enqueue_cost_rows(results["enqueue_cost"])
    if "newsletter" in results:
        lines += table_rows(sizes.newsletter_rows(results["newsletter"]))
    if "import" in results:
        lines += table_rows(sizes.import_rows(results["import"]))
    if "memory" in results:
        lines += memory_rows(results["memory"])
    if "web" in results:
        web = results["web"]
        lines += [
            "",
            f"Web server: {web['config']}. Checked afterwards: {web['invoices_requested']} of the "
            f"{web['sent_with']} measured Send invoice requests left a requested invoice, and the `email` queue "
            f"held {web['email_queue_length']} messages: those plus {web['unmeasured_posts']} warm-up and "
            "diagnosis requests.",
        ]
        errors = web["with"]["first_errors"] + web["without"]["first_errors"]
        if errors:
            lines += ["", "First errors: " + "; ".join(errors)]
    if "newsletter" in results or "import" in results:
        sizes.write_chart(
            path.parent / sizes.CHART, newsletter=results.get("newsletter", []), imports=results.get("import", [])
        )
        lines += [
            "",
            f"![Time per item and bulk worker peak RSS against size, newsletter and CSV import]({sizes.CHART})",
        ]
    tail = hand_written_tail(path)
    lines += ["", Path(__file__).with_name("METHOD.md").read_text().strip(), ""]
    if tail:
        lines += [*tail, ""]
    path.write_text("\n".join(lines))
