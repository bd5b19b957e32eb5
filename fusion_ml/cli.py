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
    from fusion_ml.paths import ensure_prefect_home

    ensure_prefect_home()
    _show_progress_logs()


def _show_progress_logs() -> None:
    """Print the library's INFO lines (training epochs, example counts) on stderr; the library
    itself configures no logging."""
    import logging

    logger = logging.getLogger("fusion_ml")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s | %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # Prefect's root handler would print every line again


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


SERVER_HOWTO = """Schedules need a Prefect server (the ephemeral API has no scheduler). Start one
and point PREFECT_API_URL at it, then run this command again:

  prefect server start --host 127.0.0.1 --port 4200
  export PREFECT_API_URL=http://127.0.0.1:4200/api"""


def _support(ctx: click.Context, param: click.Parameter, value: str) -> int | float:
    """``5`` -> 5 groups (int); ``0.01`` -> a share of groups (float)."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"expected a number of groups (5) or a share (0.01), "
                                 f"got {value!r}") from None


def _mining_options(command):
    """The mining parameters shared by ``mine`` and ``schedule mining``."""
    options = [
        click.option("--engine", type=click.Choice(["local", "spark"]), default="local",
                     show_default=True, help="Pattern miner: in-process or Spark PrefixSpan."),
        click.option("--min-tenants", default=3, show_default=True,
                     help="Privacy floor: keep patterns seen in at least K tenants."),
        click.option("--min-support", default="5", show_default=True, callback=_support,
                     help="Groups holding a pattern: a count (5) or a share of groups (0.01)."),
        click.option("--max-length", default=5, show_default=True, help="Longest pattern."),
        click.option("--cooccurrence-min-support", type=float, default=None,
                     help="Share of groups for the order-blind fpgrowth baseline [default: "
                          "MiningConfig's 0.0005; raise it on large inputs, it runs in minutes "
                          "below ~0.002]."),
        click.option("--format", "fmt", default="auto", show_default=True,
                     help="Input format, as for 'fusion ingest'; canonical *.parquet tables "
                          "(with ground truth, if any) are read as they are."),
        click.option("--tenant", help="Tenant id for every alert (overrides the data)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _mining_pipeline():
    """The ``pipelines.mining`` module (imported on use: it pulls in Prefect)."""
    from pipelines import mining

    return mining


@main.command()
@click.argument("alerts", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Catalog folder to write (patterns, rules, co-occurrence, summary.json).")
@_mining_options
@click.option("--top", default=10, show_default=True, help="Prevalent rules to list per level.")
def mine(alerts, out, engine, min_tenants, min_support, max_length, cooccurrence_min_support,
         fmt, tenant, top) -> None:
    """Mine cross-tenant attack patterns from ALERTS into a pattern catalog.

    Runs the Prefect mining flow (load, group per tenant, mine, privacy check, save, log to
    MLflow; evaluation when the alerts carry the simulator's ground truth) on Prefect's
    ephemeral API unless PREFECT_API_URL names a server. MLflow: $MLFLOW_TRACKING_URI, else
    .fusion/mlflow.db under the current directory.
    """
    from fusion_ml.mining.catalog import PatternCatalog

    flow = _mining_pipeline().mining_flow
    started = time.perf_counter()
    result = flow(alerts=[str(p) for p in alerts], out=str(out), engine=engine,
                  min_tenants=min_tenants, min_support=min_support, max_length=max_length,
                  fmt=fmt, tenant=tenant, cooccurrence_min_support=cooccurrence_min_support)
    catalog = PatternCatalog.load(result["catalog"])
    click.echo(_format_mining(result, catalog, top, time.perf_counter() - started))


def _format_mining(result: dict, catalog, top: int, seconds: float) -> str:
    from fusion_ml.reporting import format_rules

    counts = result["counts"]
    lines = [f"catalog   {result['catalog']} (content hash {result['content_hash'][:16]})",
             f"mlflow    run {result['run_id']} at {result['tracking_uri']}",
             f"input     {counts['alerts']:,} alerts, {counts['tenants']:,} tenants, "
             f"{counts['groups']:,} groups ({seconds:.1f} s)", "",
             f"{'level':<12}{'patterns':>10}{'rules':>8}{'prevalent':>11}"]
    for level, numbers in counts["levels"].items():
        lines.append(f"{level:<12}{numbers['patterns']:>10,}{numbers['rules']:>8,}"
                     f"{numbers['prevalent_rules']:>11,}")
    lines.append(f"co-occurrence rules (order-blind baseline): {counts['cooccurrence_rules']:,}")
    if result.get("evaluation"):
        ev = result["evaluation"]
        lines.append(f"evaluation: precision {ev['precision']:.2f}, playbooks "
                     f"{ev['playbooks_found']}/{ev['playbooks_expected']}, transitions "
                     f"{ev['transitions_found']}/{ev['transitions_expected']}, routine-only "
                     f"pairs prevalent {ev['routine_only_pairs_prevalent']}")
    lines += ["", format_rules(catalog.rules, top)]
    return "\n".join(lines)


@main.group()
def schedule() -> None:
    """Run flows on a schedule (needs a Prefect server; see 'fusion schedule mining -h')."""


@schedule.command("mining")
@click.option("--cron", required=True, help='When to run, e.g. "0 2 * * *" (02:00 daily).')
@click.option("--timezone", default="UTC", show_default=True, help="Time zone of --cron.")
@click.option("--alerts", multiple=True, required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Alert file to mine at each run; repeat for several files.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Catalog folder each run writes.")
@click.option("--name", default="nightly", show_default=True, help="Deployment name.")
@_mining_options
def schedule_mining(cron, timezone, alerts, out, name, engine, min_tenants, min_support,
                    max_length, cooccurrence_min_support, fmt, tenant) -> None:
    """Serve the mining flow as a deployment that runs on --cron until stopped (Ctrl+C).

    Needs PREFECT_API_URL pointing at a Prefect server:

    \b
      prefect server start --host 127.0.0.1 --port 4200
      export PREFECT_API_URL=http://127.0.0.1:4200/api
    """
    from prefect import serve
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    from fusion_ml.errors import ConfigError

    url = get_current_settings().api.url
    if not url:
        raise ConfigError(f"PREFECT_API_URL is not set.\n{SERVER_HOWTO}")
    with get_client(sync_client=True) as client:
        unreachable = client.api_healthcheck()
    if unreachable is not None:
        raise ConfigError(f"cannot reach the Prefect server at {url} ({unreachable}).\n"
                          f"{SERVER_HOWTO}")
    parameters = {"alerts": [str(p.resolve()) for p in alerts], "out": str(out.resolve()),
                  "engine": engine, "min_tenants": min_tenants, "min_support": min_support,
                  "max_length": max_length, "fmt": fmt, "tenant": tenant,
                  "cooccurrence_min_support": cooccurrence_min_support}
    deployment = _mining_pipeline().mining_deployment(name, cron, parameters, timezone=timezone)
    click.echo(f"serving fusion-mining/{name} on '{cron}' ({timezone}) against {url}; "
               "Ctrl+C stops")
    serve(deployment)


@main.command()
@click.argument("alerts", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--catalog", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Pattern catalog folder for transition evidence [default: mine one on the "
                   "training tenants].")
@click.option("--label-column", help="Per-alert column with a campaign id or an attack flag "
                                     "(your analysts' verdicts) [default: the simulator's "
                                     "campaign_id and step].")
@click.option("--holdout-playbooks", default="", metavar="NAME,...",
              help="Also train without these playbooks and score it on them.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the model, metrics.csv and pr_curves.png (also logged to "
                   "MLflow).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="A fusion.toml ([grouping], [mining], [split], [model], [training]).")
@click.option("--seed", type=int, help="Seed of the split and the model [default: 0].")
@click.option("--max-epochs", type=int, help="Most training epochs [default: 60].")
@click.option("--max-seconds", type=float, help="Training time budget per model [default: 100].")
@click.option("--format", "fmt", default="auto", show_default=True,
              help="Input format, as for 'fusion ingest'.")
def train(alerts, catalog, label_column, holdout_playbooks, out, config_path, seed, max_epochs,
          max_seconds, fmt) -> None:
    """Train the sequence model on labelled ALERTS, evaluate it on held-out tenants against
    three baselines, register it in MLflow and move the champion alias if it wins.

    Runs the Prefect training flow. MLflow: $MLFLOW_TRACKING_URI, else .fusion/mlflow.db under
    the current directory.
    """
    from fusion_ml.reporting import format_training
    from pipelines.training import training_flow

    started = time.perf_counter()
    result = training_flow(alerts=[str(p) for p in alerts],
                           catalog=str(catalog) if catalog else None, label_column=label_column,
                           holdout_playbooks=list(_names(holdout_playbooks)),
                           out=str(out) if out else None, seed=seed, max_epochs=max_epochs,
                           max_seconds=max_seconds, fmt=fmt, config_path=config_path)
    click.echo(format_training(result, time.perf_counter() - started))


@main.command()
@click.option("--alerts", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Canonical alert table (alerts per tenant).")
@click.option("--incidents", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Incidents as JSON lines ('fusion score --format jsonl').")
@click.option("--catalog", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Pattern catalog folder ('fusion mine --out').")
@click.option("--training", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Training folder with metrics.csv and pr_curves.png ('fusion train --out').")
@click.option("--out", default=Path("report.html"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path))
@click.option("--title", default="fusion-ml report", show_default=True)
def report(alerts, incidents, catalog, training, out, title) -> None:
    """Write a self-contained HTML report with plots (open it in a browser)."""
    from fusion_ml.errors import ConfigError
    from fusion_ml.mining.catalog import PatternCatalog
    from fusion_ml.report import load_incidents, write_report
    from fusion_ml.schema import read_alerts

    if not any((alerts, incidents, catalog, training)):
        raise ConfigError("report: expected at least one of --alerts, --incidents, --catalog, "
                          "--training")
    path = write_report(out, title=title,
                        alerts=read_alerts(alerts, columns=["tenant_id"]) if alerts else None,
                        incidents=load_incidents(incidents) if incidents else None,
                        catalog=PatternCatalog.load(catalog) if catalog else None,
                        training=training)
    click.echo(f"report written to {path} ({path.stat().st_size / 1024:,.0f} KiB)")


@main.group()
def config() -> None:
    """The fusion.toml configuration file."""


@config.command("check")
@click.argument("path", default="fusion.toml", type=click.Path(dir_okay=False))
def config_check(path: str) -> None:
    """Validate PATH and print the effective configuration (defaults filled in)."""
    import json

    from fusion_ml.config import load_config

    settings = load_config(path)
    effective = {"grouping": settings.grouping.to_dict(), "mining": settings.mining.to_dict(),
                 "split": settings.split.to_dict(), "model": settings.model.to_dict(),
                 "training": {"holdout_playbooks": list(settings.holdout_playbooks)},
                 "incidents": settings.incidents}
    click.echo(f"{path}: valid")
    click.echo(json.dumps(effective, indent=2, default=list))


@main.group()
def models() -> None:
    """Registered sequence models (MLflow registry)."""


@models.command("list")
def models_list() -> None:
    """Versions of fusion-sequence-model with their aliases and gate results."""
    from fusion_ml.registry import MODEL_NAME, list_versions

    table = list_versions()
    if table.empty:
        click.echo(f"no versions of {MODEL_NAME} yet; run 'fusion train' first")
        return
    click.echo(f"{'version':>7}  {'aliases':<20} {'gate':<18} {'gate PR-AUC':>11} "
               f"{'test PR-AUC':>11}  created")
    for row in table.itertuples(index=False):
        click.echo(f"{row.version:>7}  {row.aliases:<20} {row.gate:<18} {row.gate_score:>11} "
                   f"{row.test_pr_auc:>11.4f}  {row.created:%Y-%m-%d %H:%M:%S}")


@models.command("promote")
@click.argument("version")
def models_promote(version: str) -> None:
    """Give VERSION the champion alias (overrides the gate)."""
    from fusion_ml.registry import MODEL_NAME, promote

    promote(version)
    click.echo(f"{MODEL_NAME} version {version} is now 'champion'")


def _register_scoring_commands() -> None:
    from fusion_ml.cli_scoring import score, serve

    main.add_command(score)
    main.add_command(serve)


_register_scoring_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
