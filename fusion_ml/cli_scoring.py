"""``fusion score`` and ``fusion serve`` (register with ``main.add_command(score)`` and
``main.add_command(serve)`` in :mod:`fusion_ml.cli`)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from fusion_ml.errors import FusionError
from fusion_ml.incidents import OUTPUT_FORMATS

DEFAULT_MODEL = "models:/fusion-sequence-model@champion"


@click.command()
@click.argument("alerts", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the incidents.")
@click.option("--model", "model_uri", default=DEFAULT_MODEL, show_default=True,
              help="Registered model URI (alias or version).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path),
              help="TOML file with an [incidents] table (thresholds, exclusions, "
                   "severity overrides).")
@click.option("--format", "fmt", type=click.Choice(OUTPUT_FORMATS), default="jsonl",
              show_default=True, help="JSON lines, Parquet or OCSF Incident Finding "
                                      "(class 2005) JSON lines.")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path),
              help="State folder: later runs join open incidents, reruns change nothing.")
def score(alerts, out, model_uri, config_path, fmt, store) -> None:
    """Score ALERTS into incidents (Prefect flow: load, group and score per tenant, build
    incidents, write)."""
    from pipelines.scoring import scoring_flow

    started = time.perf_counter()
    try:
        result = scoring_flow(alerts=[str(p) for p in alerts], out=str(out),
                              model_uri=model_uri,
                              config_path=str(config_path) if config_path else None,
                              store=str(store) if store else None, fmt=fmt)
    except FusionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{result['incidents']:,} incidents from {result['alerts']:,} alerts of "
               f"{result['tenants']:,} tenants (threshold {result['threshold']:.3f}, "
               f"{result['excluded_provider_alerts']:,} alerts of excluded providers) in "
               f"{time.perf_counter() - started:.1f} s -> {result['out']}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--model", "model_uri", default=DEFAULT_MODEL, show_default=True,
              help="Registered model URI (alias or version).")
@click.option("--api-key-env", default="FUSION_API_KEY", show_default=True,
              help="Environment variable that holds the API key (required).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path),
              help="TOML file with an [incidents] table.")
@click.option("--max-body-bytes", default=4 * 1024 * 1024, show_default=True)
@click.option("--max-alerts", default=10_000, show_default=True)
@click.option("--alias-check-seconds", default=60.0, show_default=True,
              help="How often requests re-check where the alias points (0: only on "
                   "POST /v1/model/reload).")
def serve(host, port, model_uri, api_key_env, config_path, max_body_bytes, max_alerts,
          alias_check_seconds) -> None:
    """Serve scoring over HTTP (FastAPI + uvicorn); see /docs for the API."""
    import uvicorn

    from fusion_ml.incident_config import IncidentConfig
    from fusion_ml.service import create_app

    try:
        app = create_app(model_uri, api_key_env=api_key_env,
                         config=IncidentConfig.from_toml(config_path) if config_path else None,
                         max_body_bytes=max_body_bytes, max_alerts=max_alerts,
                         alias_check_seconds=alias_check_seconds)
    except FusionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"serving {model_uri} on http://{host}:{port} (OpenAPI at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="info")
