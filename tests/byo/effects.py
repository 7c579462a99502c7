"""Where the test graphs' side effects land: one JSON line per effect in $BYO_EFFECTS, so a
test can count exactly what ran."""

import json
import os


def record(kind: str, detail: object) -> None:
    path = os.environ.get("BYO_EFFECTS")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"kind": kind, "detail": detail}) + "\n")
