"""Synthetic Suricata EVE JSON lines in the shape Suricata writes (for ingest benchmarks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson

SIGNATURES = [
    (2001219, "ET SCAN Potential SSH Scan", "Attempted Information Leak", 2),
    (2019284, "ET WEB_SERVER Possible SQL Injection Attempt UNION SELECT",
     "Web Application Attack", 1),
    (2024897, "ET POLICY Suspicious inbound to mySQL port 3306", "Potentially Bad Traffic", 2),
    (2012708, "ET WEB_SERVER HTTP 414 Request URI Too Large", "Web Application Attack", 1),
    (2100366, "GPL ICMP_INFO PING *NIX", "Misc activity", 3),
    (2027865, "ET INFO Observed DNS Query to .cloud TLD", "Potentially Bad Traffic", 2),
]


def write_eve_lines(path: Path, n: int, seed: int = 0, non_alert_share: float = 0.1) -> Path:
    """Write ``n`` EVE records (about ``non_alert_share`` of them flow events) to ``path``."""
    rng = np.random.default_rng(seed)
    sig = rng.integers(0, len(SIGNATURES), n)
    src = rng.integers(1, 250, n)
    dst = rng.integers(1, 250, n)
    kind = rng.random(n) < non_alert_share
    t0 = 1_772_360_000_000_000
    times = t0 + np.cumsum(rng.integers(0, 2_000_000, n))
    with open(path, "wb") as out:
        for i in range(n):
            us = int(times[i])
            secs, frac = divmod(us, 1_000_000)
            stamp = np.datetime64(secs, "s").astype(str) + f".{frac:06d}+0000"
            record = {
                "timestamp": stamp,
                "flow_id": 1_000_000_000 + i,
                "in_iface": "eth0",
                "event_type": "flow" if kind[i] else "alert",
                "src_ip": f"198.51.100.{src[i]}",
                "src_port": 40_000 + i % 20_000,
                "dest_ip": f"10.20.1.{dst[i]}",
                "dest_port": 443,
                "proto": "TCP",
            }
            if not kind[i]:
                sid, name, category, severity = SIGNATURES[sig[i]]
                record["alert"] = {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 3,
                                   "signature": name, "category": category,
                                   "severity": severity}
                record["http"] = {"hostname": "shop.example.com", "url": f"/item?id={i}",
                                  "http_method": "GET", "status": 200}
            out.write(orjson.dumps(record) + b"\n")
    return path
