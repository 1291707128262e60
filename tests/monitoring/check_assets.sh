#!/usr/bin/env bash
# Checks cluster/monitoring with promtool: the scrape config, the alert rules and their unit tests,
# and every PromQL expression of the Grafana dashboard (compiled as recording rules).
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
PY
promtool check rules "$WORK/dashboard_rules.yml"
echo "monitoring assets ok"
