"""The ``fusion`` command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from fusion_ml.errors import FusionError

FORMAT_HELP = """Input formats (--format):

\b
  auto             detect from the file name and first record (default)
  suricata         Suricata EVE JSON lines; non-alert events are skipped and counted
  splunk-suricata  Splunk export of Suricata alerts (result._raw holds the EVE record,
                   result.team the tenant), e.g. the CPTC-2017 set
  wazuh            Wazuh alerts.json
  ocsf             OCSF Detection Finding (class_uid 2004) JSON / JSON lines
  sentinel         Microsoft Sentinel SecurityAlert export, JSON
  sentinel-csv     Microsoft Sentinel SecurityAlert export, CSV
  json, csv, parquet
                   any columns, mapped with --map (canonical column names need no map)

Files may be gzip-compressed."""


class _Group(click.Group):
    """Turns :class:`FusionError` into a one-line message and exit status 2."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except FusionError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fusion-ml")
def main() -> None:
    """fusion-ml: correlate security alerts from many tenants into scored incidents.

    \b
    Typical first steps:
      fusion ingest eve.json --format suricata --tenant acme --out alerts.parquet
      fusion summary alerts.parquet
      fusion demo
    """


@main.command(epilog=FORMAT_HELP)
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", default="auto", show_default=True,
              help="Input format (see below).")
@click.option("--tenant", help="Tenant id for every alert (overrides any tenant in the data).")
@click.option("--map", "mapping", multiple=True, metavar="FIELD=COLUMN",
              help="Column mapping for json/csv/parquet, e.g. --map timestamp=time "
                   "--map alert_type=rule --map ip=src --map ip=dst. Repeat for entity types.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Canonical alert Parquet file to write.")
@click.option("--quarantine", type=click.Path(dir_okay=False, path_type=Path),
              help="Where rejected records go (JSON lines) [default: OUT with .quarantine.jsonl].")
@click.option("--strict", is_flag=True, help="Stop at the first bad record instead of "
              "quarantining it.")
@click.option("--append", is_flag=True, help="Keep the alerts already in OUT; repeats of them "
              "count as duplicates.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar [default: when writing to a terminal].")
def ingest(paths, fmt, tenant, mapping, out, quarantine, strict, append, progress) -> None:
    """Read alert files into one canonical alert table (Parquet).

    Every record is accepted, quarantined with its reason, skipped by design (counted by
    reason) or dropped as a duplicate (same tenant and alert id): the counts printed per file
    always add up to the records read.
    """
    from fusion_ml.ingest import ingest_files
    from fusion_ml.reporting import format_ingest_result

    started = time.perf_counter()
    result = ingest_files(paths, out, fmt=fmt, tenant=tenant, mapping=list(mapping) or None,
                          quarantine=quarantine, strict=strict, append=append,
                          progress=sys.stderr.isatty() if progress is None else progress)
    click.echo(format_ingest_result(result, time.perf_counter() - started))


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--top", default=10, show_default=True, help="How many alert types to list.")
def summary(path: Path, top: int) -> None:
    """Alerts per tenant, top alert types and ATT&CK tactic coverage of a canonical table."""
    from fusion_ml.schema import read_alerts
    from fusion_ml.summary import format_summary, summarize

    click.echo(format_summary(summarize(read_alerts(path), top=top)))


@main.command()
@click.option("--out", default=Path("data/out"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--cptc", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the CPTC-2017 files [default: ../shared/data/cptc-2017 or "
                   "$FUSION_CPTC_DIR].")
def demo(out: Path, cptc: Path | None) -> None:
    """Run the end-to-end job on embedded defaults and the bundled real data.

    Today: ingest the CPTC-2017 Suricata alerts (one tenant per team) and summarize them.
    """
    from fusion_ml.demo import run_demo

    run_demo(out, cptc, echo=click.echo)


if __name__ == "__main__":  # pragma: no cover
    main()
