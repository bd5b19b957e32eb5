"""The HTTP scoring service (FastAPI): alerts in, incidents out.

    app = create_app("models:/fusion-sequence-model@champion")   # key from $FUSION_API_KEY
    uvicorn.run(app, host="127.0.0.1", port=8080)                 # or: fusion serve

Endpoints (JSON):

* ``POST /v1/incidents`` - ``{"alerts": [canonical alert, ...]}`` -> ``{"incidents": [...],
  "stats": {...}, "model": {...}}``: prepare (knobs), group, score, build incidents.
* ``POST /v1/score`` - ``{"alerts": [alert with group_id, ...]}`` -> per group ``score``,
  ``is_attack`` and per alert ``contribution`` / ``alert_score``.
* ``GET /healthz`` - liveness and the loaded model version (no key needed).
* ``GET /v1/model`` - name, version, alias, metrics of the loaded model.
* ``POST /v1/model/reload`` - reload when the alias (e.g. ``champion``) now points to another
  version; ``{"reloaded": bool, "version": ...}``.
* ``GET /openapi.json``, ``/docs`` - the OpenAPI spec (no key needed).

**Security and bounds.** Every ``/v1`` call needs the header ``X-API-Key`` (401 without it,
403 when wrong; compared with :func:`hmac.compare_digest`); the key comes from an environment
variable and the app refuses to start without one. Request bodies over ``max_body_bytes`` get
413 before parsing, whether they announce a ``Content-Length`` or arrive chunked; more than
``max_alerts`` alerts get 413. Malformed requests get 422 with a message naming the field
(``alerts[3].timestamp: ...``).

**Model life cycle.** The model is loaded once, when the app is created. The alias is
re-resolved cheaply (one registry query) at most every ``alias_check_seconds`` on
``/v1/incidents`` and ``/v1/score`` calls, and on every ``/v1/model/reload``; when it moved,
the new version is loaded and swapped in atomically (requests in flight finish on the old one).
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, field_validator

from fusion_ml.errors import ConfigError, FusionError
from fusion_ml.incident_config import IncidentConfig
from fusion_ml.incidents import detect
from fusion_ml.schema import ALERT_SCHEMA, ENTITY_TYPES, SEVERITIES, from_arrow
from fusion_ml.scoring import Scorer

API_KEY_ENV = "FUSION_API_KEY"
API_KEY_HEADER = "X-API-Key"
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_ALERTS = 10_000
ALIAS_CHECK_SECONDS = 60.0

EntityType = Literal[ENTITY_TYPES]  # type: ignore[valid-type]
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]


class EntityIn(BaseModel):
    """A typed entity."""

    model_config = ConfigDict(extra="forbid")
    type: EntityType
    value: str = Field(min_length=1, max_length=1024)


class AlertIn(BaseModel):
    """One canonical alert (see :mod:`fusion_ml.schema`); naive timestamps are UTC."""

    model_config = ConfigDict(extra="forbid")
    tenant_id: str = Field(min_length=1, max_length=256)
    alert_id: str = Field(min_length=1, max_length=256)
    timestamp: datetime
    alert_type: str = Field(min_length=1, max_length=1024)
    provider: str | None = Field(default=None, max_length=256)
    severity: Severity | None = None
    fidelity: Literal["alert", "signal"] | None = "alert"
    techniques: list[str] = Field(default_factory=list, max_length=64)
    tactics: list[str] = Field(default_factory=list, max_length=32)
    entities: list[EntityIn] = Field(default_factory=list, max_length=256)

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class GroupedAlertIn(AlertIn):
    """An alert with the candidate group it belongs to."""

    group_id: str = Field(min_length=1, max_length=256)


class IncidentsRequest(BaseModel):
    """``POST /v1/incidents`` body."""

    model_config = ConfigDict(extra="forbid")
    alerts: list[AlertIn]


class ScoreRequest(BaseModel):
    """``POST /v1/score`` body."""

    model_config = ConfigDict(extra="forbid")
    alerts: list[GroupedAlertIn]


class AlertScore(BaseModel):
    """Per-alert explanation."""

    alert_id: str
    contribution: float | None
    alert_score: float | None


class GroupScore(BaseModel):
    """One scored group."""

    group_id: str
    tenant_id: str
    size: int
    score: float | None
    is_attack: bool
    alerts: list[AlertScore]


class ScoreResponse(BaseModel):
    """``POST /v1/score`` answer."""

    threshold: float
    groups: list[GroupScore]


class ModelInfo(BaseModel):
    """The loaded model."""

    uri: str | None
    name: str | None
    version: str | None
    alias: str | None
    threshold: float
    metrics: dict[str, float]


class IncidentsResponse(BaseModel):
    """``POST /v1/incidents`` answer: incidents as :meth:`Incident.to_dict`."""

    incidents: list[dict[str, Any]]
    stats: dict[str, Any]
    model: ModelInfo


class _ModelHolder:
    """The loaded scorer and what the registry said about it; swapped under a lock."""

    def __init__(self, scorer: Scorer, uri: str | None, alias_check_seconds: float) -> None:
        self.scorer = scorer
        self.uri = uri
        self.alias_check_seconds = alias_check_seconds
        self.lock = threading.Lock()
        self.checked = time.monotonic()
        self.info = self._info()

    def _info(self) -> dict[str, Any]:
        if self.uri is None or not self.uri.startswith("models:/"):
            return {"name": None, "version": None, "metrics": {}}
        from fusion_ml.registry import model_info

        return model_info(self.uri)

    @property
    def alias(self) -> str | None:
        """The alias the URI names (``champion``), if any."""
        return self.uri.rsplit("@", 1)[1] if self.uri and "@" in self.uri else None

    def describe(self) -> ModelInfo:
        """Name, version, alias, threshold and metrics of the loaded model."""
        metrics = {k: float(v) for k, v in self.info.get("metrics", {}).items()}
        return ModelInfo(uri=self.uri, name=self.info.get("name"),
                         version=self.info.get("version"), alias=self.alias,
                         threshold=self.scorer.threshold, metrics=metrics)

    def reload_if_moved(self) -> bool:
        """Re-resolve the alias; load and swap in the model if it names another version."""
        if self.alias is None:
            return False
        from fusion_ml.registry import model_info

        with self.lock:
            self.checked = time.monotonic()
            info = model_info(self.uri)
            if info["version"] == self.info.get("version"):
                return False
            scorer = Scorer.from_uri(self.uri, self.scorer.grouping, self.scorer.min_group_size)
            self.scorer, self.info = scorer, info
            return True

    def maybe_check(self) -> None:
        """:meth:`reload_if_moved` at most every ``alias_check_seconds`` (0: never)."""
        if self.alias_check_seconds and \
                time.monotonic() - self.checked >= self.alias_check_seconds:
            self.reload_if_moved()


class BodyLimit:
    """ASGI middleware: 413 for request bodies over ``limit`` bytes, checked on the
    ``Content-Length`` header and while reading (chunked bodies), before the app parses."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _send_json(send, 400, {"error": "invalid Content-Length header"})
                return
            if declared > self.limit:
                await _send_json(send, 413, _too_large(self.limit))
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await _send_json(send, 413, _too_large(self.limit))
                return
            chunks.append(body)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> dict[str, Any]:
    return {"error": "request body too large", "message": f"body: expected at most {limit} "
            "bytes"}


async def _send_json(send: Any, status: int, payload: dict[str, Any]) -> None:
    import json

    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _field(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p != "body"]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "body"


def alerts_frame(alerts: list[AlertIn]) -> pd.DataFrame:
    """Validated request alerts as a canonical alert frame (``group_id`` kept if present)."""
    records = [a.model_dump() for a in alerts]
    table = pa.Table.from_pylist([{k: r[k] for k in ALERT_SCHEMA.names} for r in records],
                                 schema=ALERT_SCHEMA)
    frame = from_arrow(table)
    if records and "group_id" in records[0]:
        frame["group_id"] = pd.array([r["group_id"] for r in records], dtype="string")
    return frame


def create_app(model_uri: str | None = None, scorer: Scorer | None = None,
               config: IncidentConfig | None = None, api_key: str | None = None,
               api_key_env: str = API_KEY_ENV, max_body_bytes: int = MAX_BODY_BYTES,
               max_alerts: int = MAX_ALERTS, alias_check_seconds: float = ALIAS_CHECK_SECONDS,
               catalog: Any = None) -> FastAPI:
    """The service (see the module docstring). Give ``model_uri`` (loaded now) or a ready
    ``scorer``; the API key is ``api_key`` or the environment variable ``api_key_env``.

    Raises :class:`ConfigError` without a key or a model."""
    key = api_key if api_key is not None else os.environ.get(api_key_env, "")
    if not key:
        raise ConfigError(f"service: expected an API key in the environment variable "
                          f"{api_key_env}, found none; refusing to start without one")
    if max_body_bytes < 1 or max_alerts < 1:
        raise ConfigError("service: expected max_body_bytes and max_alerts >= 1")
    if scorer is None:
        if not model_uri:
            raise ConfigError("service: expected a model URI (e.g. "
                              "models:/fusion-sequence-model@champion) or a scorer")
        scorer = Scorer.from_uri(model_uri)
    config = (config or IncidentConfig()).validate()
    holder = _ModelHolder(scorer, model_uri, alias_check_seconds)
    expected = key.encode()

    app = FastAPI(title="fusion-ml scoring service", version="1",
                  description="Alerts in, scored incidents out (see fusion_ml.service).")
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)

    def require_key(given: str | None = Depends(header)) -> None:
        if not given:
            raise _HTTPError(401, f"header {API_KEY_HEADER}: an API key is required")
        if not hmac.compare_digest(given.encode(), expected):
            raise _HTTPError(403, f"header {API_KEY_HEADER}: invalid API key")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "")}
                   for e in exc.errors()[:20]]
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        return JSONResponse(status_code=422, content={"error": "invalid request",
                                                      "message": message,
                                                      "detail": details})

    @app.exception_handler(_HTTPError)
    async def _http(request: Request, exc: _HTTPError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"error": exc.message,
                                                            "message": exc.message})

    @app.exception_handler(FusionError)
    async def _fusion(request: Request, exc: FusionError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": "invalid input",
                                                      "message": str(exc)})

    def check_alerts(alerts: list[AlertIn]) -> None:
        if len(alerts) > max_alerts:
            raise _HTTPError(413, f"alerts: expected at most {max_alerts} alerts, got "
                             f"{len(alerts)}")
        seen = set()
        for i, alert in enumerate(alerts):
            key_ = (alert.tenant_id, alert.alert_id)
            if key_ in seen:
                raise _HTTPError(422, f"alerts[{i}].alert_id: duplicate (tenant_id, alert_id) "
                                 f"{key_}")
            seen.add(key_)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness and the loaded model version."""
        return {"status": "ok", "model_version": holder.info.get("version")}

    @app.get("/v1/model", response_model=ModelInfo, dependencies=[Depends(require_key)])
    def get_model() -> ModelInfo:
        """Name, version, alias, threshold and metrics of the loaded model."""
        return holder.describe()

    @app.post("/v1/model/reload", dependencies=[Depends(require_key)])
    def reload_model() -> dict[str, Any]:
        """Reload when the alias now names another version."""
        if holder.alias is None:
            raise _HTTPError(409, "model: loaded without a registry alias; nothing to reload")
        reloaded = holder.reload_if_moved()
        return {"reloaded": reloaded, "version": holder.info.get("version")}

    @app.post("/v1/incidents", response_model=IncidentsResponse,
              dependencies=[Depends(require_key)])
    def incidents(body: IncidentsRequest) -> IncidentsResponse:
        """Alerts in, incidents out."""
        check_alerts(body.alerts)
        holder.maybe_check()
        batch = detect(alerts_frame(body.alerts), holder.scorer, config, catalog)
        return IncidentsResponse(incidents=[i.to_dict() for i in batch.incidents],
                                 stats=batch.stats, model=holder.describe())

    @app.post("/v1/score", response_model=ScoreResponse, dependencies=[Depends(require_key)])
    def score(body: ScoreRequest) -> ScoreResponse:
        """Groups in, scores and per-alert explanations out."""
        check_alerts(body.alerts)
        holder.maybe_check()
        current = holder.scorer
        scored = current.score_groups(alerts_frame(body.alerts))
        alerts = scored.alerts
        per_group: dict[str, list[AlertScore]] = {}
        for gid, aid, contribution, alert_score in zip(
                alerts["group_id"].astype(str), alerts["alert_id"].astype(str),
                alerts["contribution"], alerts["alert_score"], strict=True):
            per_group.setdefault(gid, []).append(AlertScore(
                alert_id=aid, contribution=None if pd.isna(contribution) else contribution,
                alert_score=None if pd.isna(alert_score) else alert_score))
        groups = [GroupScore(group_id=row.group_id, tenant_id=str(row.tenant_id),
                             size=int(row.size),
                             score=None if pd.isna(row.score) else float(row.score),
                             is_attack=bool(row.score >= scored.threshold),
                             alerts=per_group[row.group_id])
                  for row in scored.groups.itertuples()]
        return ScoreResponse(threshold=scored.threshold, groups=groups)

    app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
