#!/usr/bin/env bash
# e2e: a real Prometheus server scrapes a training run through file-based service discovery;
# the live exposition passes `promtool check metrics`; the samples counter rises in Prometheus.
# Usage: prometheus_scrape.sh L2FACE WORK SRC [RANKS]  (RANKS > 1 runs under mpirun)
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"; RANKS="${4:-1}"
command -v prometheus >/dev/null || { echo "prometheus not installed (scripts/bootstrap.sh installs it)"; exit 1; }
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
rm -rf "$WORK"; mkdir -p "$WORK/targets"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$L2FACE" synth --out "$WORK/corpus" --identities 16 --images-per-identity 8 --eval-identities 4 --folds 2 --pairs-per-fold 2 \
  --size 32 --seed 4 --threads 2 >/dev/null

# Prometheus on a free loopback port, scraping every second.
PROM_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: l2face
    honor_labels: true
    file_sd_configs: [{files: ["$WORK/targets/*.json"], refresh_interval: 1s}]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" > "$WORK/prometheus.log" 2>&1 &
pids+=($!)

launcher=()
if [ "$RANKS" -gt 1 ]; then
  launcher=(mpirun -np "$RANKS" --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1)
fi
"${launcher[@]}" "$L2FACE" train --set data.train="$WORK/corpus/train" --set run.dir="$WORK/run" \
  --set data.image_size=32 --set data.batch_size=8 --set data.workers=1 --set model.width=8 \
  --set model.embedding_dim=32 --set optim.max_steps=100000 --set optim.warmup_steps=10 \
  --set monitoring.port=0 --set monitoring.job=scrape_e2e --set monitoring.targets_dir="$WORK/targets" \
  --set monitoring.log_every=50 --set checkpoint.every_steps=0 > "$WORK/train.log" 2>&1 &
pids+=($!)

# Wait for every rank's target file, then check a live scrape with promtool.
for _ in $(seq 100); do [ "$(ls "$WORK/targets" | wc -l)" -ge "$RANKS" ] && break; sleep 0.2; done
addr=$(cat "$WORK/run/metrics/rank0.addr")
"$PY" -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://$addr/metrics').read().decode())" \
  > "$WORK/scrape.txt"
promtool check metrics < "$WORK/scrape.txt"

# Prometheus must see every rank up and the samples counter rising.
"$PY" - "$PROM_PORT" "$RANKS" <<'PY'
import json, sys, time, urllib.parse, urllib.request
port, ranks = sys.argv[1], int(sys.argv[2])
def q(expr):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    return json.load(urllib.request.urlopen(url))["data"]["result"]
deadline = time.time() + 60
seen = []
while time.time() < deadline:
    try:
        up = q('up{job="l2face"} == 1')
        samples = q('sum(l2face_samples_total{job="scrape_e2e"})')
    except OSError:
        time.sleep(0.5); continue
    if len(up) == ranks and samples:
        seen.append(float(samples[0]["value"][1]))
        if len(seen) >= 3 and seen[-1] > seen[0] > 0:
            ranks_seen = {r["metric"]["rank"] for r in q('l2face_steps_total{job="scrape_e2e"}')}
            assert ranks_seen == {str(i) for i in range(ranks)}, ranks_seen
            print(f"prometheus sees {ranks} rank(s) up; samples {seen[0]:.0f} -> {seen[-1]:.0f}")
            sys.exit(0)
    time.sleep(1)
sys.exit(f"prometheus did not see {ranks} rank(s) with rising samples: up={len(up)} samples={seen}")
PY
echo "e2e prometheus ok"
