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
@click.option("--tenants", default=200, show_default=True, help="Number of tenants.")
@click.option("--days", default=14, show_default=True, help="Days to simulate.")
@click.option("--seed", default=0, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--start", default="2026-01-05", show_default=True, help="First day (UTC).")
@click.option("--attack-rate", default=2.0, show_default=True,
              help="Attack campaigns per tenant per 30 days (mean).")
@click.option("--incidental-rate", default=1.0, show_default=True,
              help="Multiplier on how often benign routines run.")
@click.option("--background-rate", default=0.8, show_default=True,
              help="Benign background alerts per host per day (mean).")
@click.option("--holdout-playbooks", default="", metavar="NAME,...",
              help="Playbooks never to generate (to test models on unseen attacks).")
@click.option("--only-playbooks", default="", metavar="NAME,...",
              help="Generate only these playbooks (e.g. the held-out ones, for a test set).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "sentinel", "ocsf"]),
              default="parquet", show_default=True,
              help="Canonical Parquet (with ground truth), Sentinel SecurityAlert JSON or OCSF "
                   "Detection Finding JSON lines.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--list-playbooks", is_flag=True, help="List the playbooks and exit.")
def simulate(tenants, days, seed, start, attack_rate, incidental_rate, background_rate,
             holdout_playbooks, only_playbooks, fmt, out, list_playbooks) -> None:
    """Simulate multi-tenant alert streams with ground truth.

    Benign background (noisy detectors, bursts, daily and weekly rhythm, stuck assets),
    incidental co-occurrence (maintenance windows, scanners, backups, look-alikes) and attack
    campaigns from the playbook library, labelled with campaign_id, playbook, step, label and
    scenario columns.
    """
    from fusion_ml.reporting import format_simulation
    from fusion_ml.simulate import SimulationConfig
    from fusion_ml.simulate import simulate as run
    from fusion_ml.simulate.library import PLAYBOOKS

    if list_playbooks:
        for playbook in PLAYBOOKS:
            tactics = " > ".join(step.tactic for step in playbook.steps)
            click.echo(f"{playbook.name:<34} prevalence {playbook.prevalence:>4}  {tactics}")
        return
    config = SimulationConfig(
        tenants=tenants, days=days, seed=seed, start=start, attack_rate=attack_rate,
        incidental_rate=incidental_rate, background_rate=background_rate,
        holdout_playbooks=_names(holdout_playbooks), only_playbooks=_names(only_playbooks))
    started = time.perf_counter()
    stats = run(config, out, fmt=fmt, progress=sys.stderr.isatty())
    seconds = time.perf_counter() - started
    click.echo(format_simulation(stats, days))
    click.echo(f"wrote {out} ({fmt}) in {seconds:.1f} s")


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


@main.command()
@click.option("--out", default=Path("data/out"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--cptc", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the CPTC-2017 files [default: ../shared/data/cptc-2017 or "
                   "$FUSION_CPTC_DIR].")
def demo(out: Path, cptc: Path | None) -> None:
    """Run the end-to-end job on embedded defaults and the bundled real data.

    Today: simulate a multi-tenant set (200 tenants x 14 days) and ingest the CPTC-2017
    Suricata alerts (one tenant per team), and summarize both.
    """
    from fusion_ml.demo import run_demo

    run_demo(out, cptc, echo=click.echo)


if __name__ == "__main__":  # pragma: no cover
    main()
