"""`kubeferry doctor`: click glue over services/doctor.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from kubeferry.cli.render import CommandFailed, emit, table
from kubeferry.services.doctor import check_readiness
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console
    from kubeferry.doctor import Inputs, Report


def _draw(console: Console, report: Report, inputs: Inputs) -> None:
    rows = [
        (
            str(v.cached.tag),
            v.cached.arch,
            v.cached.state.value,
            "yes" if v.listed else "NO",
            f"{v.kubectl.version.short}" if v.kubectl else "MISSING",
        )
        for v in report.versions
    ]
    if rows:
        console.print(table(("K3S VERSION", "ARCH", "CACHE", "IN CATALOG", "KUBECTL"), rows))
    found = ", ".join(k.version.short for k in inputs.kubectls) or "none"
    console.print(f"kubectl binaries ({inputs.target}): {found}; catalog: {inputs.catalog_source}")
    for check in inputs.registries:
        mirrors = ", ".join(check.mirrors) or "no mirrors"
        console.print(f"registries: {check.path} ({check.kind}): {mirrors}")
    for warning in report.warnings:
        console.print(f"warning: {warning}")
    for problem in report.problems:
        console.print(f"problem: {problem}")
    for fix in report.fixes:
        console.print(f"fix: {fix}")
    console.print("READY for offline use" if report.ready else "NOT READY for offline use")


@click.command()
@click.option("--quick", is_flag=True, help="Check that files are present and listed; no hashing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def doctor(settings: Settings, quick: bool, as_json: bool) -> None:
    """Offline readiness: cached versions, checksums, kubectl coverage; exit 1 while gaps remain."""
    readiness = check_readiness(settings, quick=quick)
    report, inputs = readiness.report, readiness.inputs
    emit(readiness.as_dict(), as_json=as_json, text=lambda console: _draw(console, report, inputs))
    if not report.ready:
        raise CommandFailed(1)
