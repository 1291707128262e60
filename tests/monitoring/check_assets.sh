#!/usr/bin/env bash
# Checks cluster/monitoring with promtool: the scrape config, the alert rules and their unit tests,
# and every PromQL expression of the Grafana dashboard (compiled as recording rules); the dashboard's
# layout (unique panel ids and query refIds, panels inside the 24-column grid and not overlapping);
# every alert named in the alerts table of docs/monitoring.md.
set -euo pipefail
SRC="$1"; WORK="$2"
command -v promtool >/dev/null || { echo "promtool not installed (scripts/bootstrap.sh installs prometheus)"; exit 1; }
rm -rf "$WORK"; mkdir -p "$WORK"
cd "$SRC/cluster/monitoring"
promtool check config prometheus.yml
promtool check rules alerts.yml
promtool test rules alerts_test.yml
python3 - grafana-dashboard.json "$WORK/dashboard_rules.yml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
assert len(exprs) >= 16, len(exprs)
subst = {"$job": ".*", "$rank": ".*", "$__rate_interval": "1m", "${datasource}": ""}
with open(sys.argv[2], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        for k, v in subst.items():
            e = e.replace(k, v)
        assert "$" not in e, e
        f.write(f"      - record: dashboard_expr_{i}\n        expr: {json.dumps(e)}\n")
print(f"{len(exprs)} dashboard expressions")
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), f"panel ids repeat: {ids}"
cells = {}
for p in d["panels"]:
    assert p.get("datasource", {}).get("uid") == "${datasource}", (p["title"], p.get("datasource"))
    refs = [t["refId"] for t in p.get("targets", [])]
    assert len(refs) == len(set(refs)), (p["title"], refs)
    g = p["gridPos"]
    assert g["x"] >= 0 and g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24, (p["title"], g)
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            assert (x, y) not in cells, f"panels '{cells.get((x, y))}' and '{p['title']}' overlap"
            cells[(x, y)] = p["title"]
print(f"{len(ids)} dashboard panels, none overlapping")
PY
python3 - alerts.yml "$SRC/docs/monitoring.md" <<'PY'
import re, sys
alerts = re.findall(r"^\s*- alert: (\S+)", open(sys.argv[1]).read(), re.M)
docs = open(sys.argv[2]).read()
missing = [a for a in alerts if f"| `{a}` |" not in docs]
assert not missing, f"alerts missing from the alerts table of docs/monitoring.md: {missing}"
print(f"{len(alerts)} alerts, each in docs/monitoring.md")
PY
promtool check rules "$WORK/dashboard_rules.yml"
echo "monitoring assets ok"
