"""The HTML report: self-contained, with every plot embedded and readable as a PNG."""

from __future__ import annotations

import base64
import io
import json
import re

import matplotlib.image as mpimg
from click.testing import CliRunner

from fusion_ml.cli import main
from fusion_ml.report import build_report

INCIDENT = {
    "incident_id": "inc-1", "tenant_id": "tenant-00001", "title": "Initial access to "
    "exfiltration on host ws-1", "severity": "high", "score": 0.97, "status": "new",
    "first_seen": "2026-01-05T10:00:00Z", "last_seen": "2026-01-05T12:00:00Z",
    "alerts": [{"alert_id": "a1", "timestamp": "2026-01-05T10:00:00Z",
                "tactics": ["initial-access"]},
               {"alert_id": "a2", "timestamp": "2026-01-05T11:00:00Z", "tactics": ["execution"]},
               {"alert_id": "a3", "timestamp": "2026-01-05T12:00:00Z",
                "tactics": ["exfiltration"]}],
    "links": [{"shared_entities": [{"type": "host", "value": "ws-1"}]},
              {"shared_entities": [{"type": "account", "value": "bob"}]}],
    "related_alerts": [{"alert_id": "r1", "timestamp": "2026-01-05T10:30:00Z"}],
    "related_signals": [],
}


FULL_INCIDENT = {**INCIDENT, "tags": [], "group_id": "g-1", "group_size": 3,
                 "tactics": ["initial-access", "execution", "exfiltration"], "timeline": [],
                 "entities": [], "artifacts": [], "patterns": [], "response": []}
"""INCIDENT with every field an incident record has (what ``fusion score`` writes)."""


def images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


def test_report_embeds_every_plot(small_training, small_alerts, tmp_path):
    training = tmp_path / "training"
    small_training.write_reports(training)
    text = build_report(alerts=small_alerts[0], incidents=[INCIDENT],
                        catalog=small_training.catalog, training=training)
    for heading in ("Alerts and incidents per tenant", "Top cross-tenant patterns",
                    "Model against the baselines", "Example incidents"):
        assert heading in text
    pngs = images(text)
    assert len(pngs) == 4  # tenants, patterns, PR curves, one incident timeline
    for png in pngs:
        assert mpimg.imread(io.BytesIO(png), format="png").shape[0] > 100
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert "Initial access to exfiltration on host ws-1" in text
    assert "sequence model" in text and "bag-of-types logistic regression" in text


def test_report_command(small_training, small_alerts, tmp_path):
    incidents = tmp_path / "incidents.jsonl"
    incidents.write_text(json.dumps(FULL_INCIDENT) + "\n")
    catalog = small_training.catalog.save(tmp_path / "catalog")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(main, ["report", "--alerts", str(small_alerts[1]),
                                       "--incidents", str(incidents), "--catalog", str(catalog),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(images(out.read_text())) == 3
    empty = CliRunner().invoke(main, ["report", "--out", str(out)])
    assert empty.exit_code == 2 and "expected at least one of" in empty.output
    # a record that is not an incident is named, not half-drawn
    incidents.write_text(json.dumps(FULL_INCIDENT) + "\n" + json.dumps(INCIDENT) + "\n")
    bad = CliRunner().invoke(main, ["report", "--incidents", str(incidents), "--out", str(out)])
    assert bad.exit_code != 0
    assert f"{incidents}, record 2: expected an incident" in bad.output
