"""The OpenAPI document is the contract: schemathesis (pinned in the dev extra) drives a real server from it.

Every route, every check, a fixed seed and at least 100 generated cases per route that takes input,
against a labeling server on a temporary folder, started with a token (so `ignored_auth` has
something to check). Two checks take a setting rather than their defaults, each for the reason
beside it in CONFIG; no check is left out.
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys

import pytest
from conftest import Server

TOKEN = "contract-token-0123456789"
SEED = 1
CASES = 100  # per route, in the fuzzing phase; the coverage phase adds its own
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]  # schemathesis's default for valid requests, minus 5xx
CONFIG = f"""
# Default statuses a refusal of schema-violating data may have, with 413 added (more images than
# maxItems: the service answers 413, too large, as for a body over its limit) and 5xx taken out
# (a 5xx is a server error, never a refusal).
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]

[checks.positive_data_acceptance]
expected-statuses = {json.dumps(ACCEPTED)}

# A schema can only say "base64" or "binary" of an image: random bytes are a well-formed request for an
# image that does not decode, which the service refuses with 400 (the error names the image).
[[operations]]
include-path = "/v1/read"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = {json.dumps(ACCEPTED + ["400"])}

# A label is checked against the session's charset, which grows as the person confirms characters
# (add_chars): no schema can say which strings are labels at a given moment, so a well-formed label
# with an unknown character (or the pad, or a control character) is refused with 400.
[[operations]]
include-path = "/v1/label/images/{{file}}"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = {json.dumps(ACCEPTED + ["400"])}
"""


def test_schemathesis_finds_nothing_with_every_check(smoke_run, generated_folder, workdir, tmp_path):
    pytest.importorskip("schemathesis", reason="pip install -e '.[dev]' (schemathesis is pinned there)")
    folder = tmp_path / "lab"
    folder.mkdir()
    for i, f in enumerate(sorted(generated_folder.glob("*.png"))[:8]):
        shutil.copy(f, folder / f"c{i}.png")
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    report = tmp_path / "events.ndjson"
    with Server("--model", smoke_run, "--label-folder", folder, "--token", TOKEN, "--max-images", "8",
                cwd=workdir) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(tmp_path / "schemathesis.toml"), "run",
             f"{server.url}/openapi.json", "--checks", "all", "--mode", "all", "--max-examples", str(CASES),
             "--seed", str(SEED), "--workers", "1", "--continue-on-failure", "--generation-database", "none",
             "--header", f"Authorization: Bearer {TOKEN}", "--no-color", "--report", "ndjson",
             "--report-ndjson-path", str(report), "--request-timeout", "30"],
            cwd=tmp_path, capture_output=True, text=True, timeout=600)
        log = server.output()
    summary = proc.stdout[-6000:]
    assert proc.returncode == 0, summary
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
    cases = collections.Counter()
    for line in report.read_text().splitlines():
        event = json.loads(line)
        if "ScenarioFinished" in event:
            finished = event["ScenarioFinished"]
            cases[(finished["recorder"]["label"], finished["phase"])] += len(finished["recorder"].get("cases", {}))
    routes = {label for label, _ in cases}
    assert len(routes) == 8, routes  # every route of the document
    for route in routes:
        takes_input = "POST" in route or "{" in route
        if takes_input:  # a route without parameters has one request to make; hypothesis makes it once
            assert cases[(route, "fuzzing")] >= CASES, (route, cases)
