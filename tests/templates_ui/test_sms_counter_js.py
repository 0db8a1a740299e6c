"""The editor's live SMS counter (static/js/sms_counter.js) agrees with sms_segments."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from channels.sms_encoding import sms_segments

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "js" / "sms_counter.js"
NODE = shutil.which("node")

# A minimal DOM: the body textarea and the output paragraph the script looks up.
HARNESS = """
const fs = require("fs");
const texts = JSON.parse(process.argv[2]);
const results = [];
for (const text of texts) {
  const out = {textContent: ""};
  const body = {value: text, addEventListener() {}};
  global.document = {querySelector: () => body, getElementById: () => out};
  eval(fs.readFileSync(process.argv[1], "utf8"));
  results.push(out.textContent);
}
console.log(JSON.stringify(results));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_js_counter_shows_the_same_encoding_and_segments_as_python():
    texts = ["Hello", "a" * 161, "€" * 81, "ê" * 71, "😀" * 36, "Prix: 5 € [promo]"]

    shown = json.loads(subprocess.run(
        [NODE, "-e", HARNESS, str(SCRIPT), json.dumps(texts)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout)

    for text, line in zip(texts, shown, strict=True):
        encoding, segments = sms_segments(text)
        assert line.startswith(f"{encoding} · ")
        assert f" · {segments} segment" in line
