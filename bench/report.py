"""Turns the figures of one `make bench` run into BENCHMARKS.md: machine, versions, each figure beside its
target, and how to reproduce it."""

import os
import platform
from importlib.metadata import version
from pathlib import Path

import psutil


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
        f"| 2 | trivial task with its result stored by django-celery-results | (report) | "
        f"{throughput['project_stored']:.0f} tasks/s | — |",
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
    outbox, publish = latency["outbox"], latency["publish"]
    return [
        f"| 3 | enqueue → task start on an idle worker, through the outbox ({outbox['n']} samples), p50 | ≤ 5 ms | "
        f"{outbox['p50']:.1f} ms (p99 {outbox['p99']:.1f}) | {verdict(outbox['p50'] <= 5)} |",
        f"| 3 | same, publish only (`apply_async`, no outbox row), p50 | — | "
        f"{publish['p50']:.1f} ms (p99 {publish['p99']:.1f}) | — |",
    ]


def bulk_rows(number: int, label: str, result: dict) -> list[str]:
    if "missing" in result:
        return [f"| {number} | {label} | see target | not measured: {result['missing']} | — |"]
    return [f"| {number} | {label} | {result['target']} | {result['figure']} | {verdict(result['ok'])} |"]


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
    if "latency" in results:
        lines += latency_rows(results["latency"])
    if "newsletter" in results:
        lines += bulk_rows(4, "newsletter to 10,000 subscribers via SMTP", results["newsletter"])
    if "import" in results:
        lines += bulk_rows(5, "CSV import of 50,000 rows", results["import"])
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
    lines += ["", Path(__file__).with_name("METHOD.md").read_text().strip(), ""]
    path.write_text("\n".join(lines))
