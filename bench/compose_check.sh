#!/bin/sh
# `docker compose up --build` for real, checked end to end (README, "Docker", says when it last ran):
#   up; the first account printed with the right command; /healthz; the image's packages (every runtime
#   pin importable, python-gdcm among them; no test tool); non-root, the worker at its niceness;
#   PostgreSQL's max_connections; sign in, upload the challenge file over HTTP, poll it to
#   143,280.029 mm³ (50,080 voxels); --scale worker=2 and measure again; a killed worker comes back;
#   a settings error stops a worker with its message; /healthz 503 while the database is down, then
#   200 and a measurement again; down, up again: the account, the measurements and their files are kept.
# Needs a Docker engine on this machine (here: ../shared/tools/docker-standin start), root (to kill a
# container's process as a crash would) and `make test`'s .venv (for .ci/smoke.py).
# Uses its own compose project and port (COMPOSE_CHECK_PORT, default 8280) and removes its volumes at the end.
set -eu
cd "$(dirname "$0")/.."
# The stand-in engine's vfs storage copies a whole image for each container: compose's 60 s can pass.
export COMPOSE_HTTP_TIMEOUT="${COMPOSE_HTTP_TIMEOUT:-600}"
PORT="${COMPOSE_CHECK_PORT:-8280}"
BASE="http://127.0.0.1:$PORT"
WORK="$(mktemp -d)"
PASSWORD="check-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')"
cat > "$WORK/env" <<ENV
DJANGO_SECRET_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1
DJANGO_CSRF_TRUSTED_ORIGINS=$BASE
VOLUMES_SITE_URL=$BASE/
VOLUMES_WEB_PORT=$PORT
POSTGRES_PASSWORD=check-database-password
VOLUMES_ADMIN_USERNAME=admin
VOLUMES_ADMIN_PASSWORD=$PASSWORD
ENV
compose() { docker compose --project-name volumescheck --env-file "$WORK/env" "$@"; }
cleanup() { compose down --volumes --remove-orphans >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
step() { echo "== $(date -u +%H:%M:%S) $*"; }

wait_healthy() {
    for _ in $(seq 120); do
        if curl -fsS "$BASE/healthz" > "$WORK/health" 2>/dev/null; then cat "$WORK/health"; echo; return 0; fi
        sleep 2
    done
    compose ps; compose logs --tail 50; echo "compose_check: /healthz never answered 200" >&2; return 1
}

step "docker compose up --build"
compose up --build -d
wait_healthy
step "the first account, printed once by the migration with the command to change its password"
compose logs --no-color migrate | grep "Created the first account. Sign in at $BASE/ as 'admin' with password '$PASSWORD'"
compose logs --no-color migrate | grep -q "change it with: docker compose exec web python manage.py changepassword admin"
step "the web container runs as its own user and owns /data"
compose exec -T web sh -c 'echo "user $(id -un) ($(id -u)); /data owned by $(stat -c %U /data)"'
test "$(compose exec -T web id -u | tr -d '\r')" != 0
step "the image: every runtime package at its pin and importable, no test tool, no tests/bench/.ci"
docker exec -i "$(compose ps -q web)" python - "$(cat requirements.txt)" "$(cat requirements-test.txt)" < bench/image_check.py
compose exec -T web sh -c 'for d in tests bench .ci; do if test -e "/app/$d"; then echo "/app/$d is in the image"; exit 1; fi; done'
compose logs --no-color web | grep -m1 "Using worker: gthread"
step "the worker: the image's user, 10 nicer than the web server (os.nice; at most 19), process 1 of its container"
WEB_NICE="$(compose exec -T web cut -d' ' -f19 /proc/1/stat | tr -d '\r')"
compose exec -T worker sh -c 'echo "uid $(id -u), niceness $(cut -d" " -f19 /proc/1/stat), process 1: $(tr "\0" " " < /proc/1/cmdline)"'
echo "web's niceness: $WEB_NICE"
test "$(compose exec -T worker cut -d' ' -f19 /proc/1/stat | tr -d '\r')" = "$(( WEB_NICE + 10 > 19 ? 19 : WEB_NICE + 10 ))"
step "PostgreSQL's max_connections exceeds WEB_CONCURRENCY (2) x 16 threads plus the workers"
test "$(compose exec -T db psql -U volumes -d volumes -tAc 'SHOW max_connections' | tr -d '\r')" -ge 200
step "sign in, upload, measure"
.venv/bin/python .ci/smoke.py --against "$BASE" --password "$PASSWORD"
curl -fsS -o /dev/null -w "static file: %{http_code}\n" "$BASE/static/volumes/style.css"

step "--scale worker=2"
compose up -d --scale worker=2
test "$(compose ps -q worker | wc -l)" -eq 2
compose ps
.venv/bin/python .ci/smoke.py --against "$BASE" --password "$PASSWORD"
echo "connections kept, by container (web's threads keep theirs for DJANGO_CONN_MAX_AGE):"
compose exec -T db psql -U volumes -d volumes -tAc \
    "SELECT client_addr, count(*) FROM pg_stat_activity WHERE datname = 'volumes' AND pid <> pg_backend_pid() GROUP BY 1 ORDER BY 2 DESC"

step "a worker killed as by a crash (SIGKILL) while measuring: its restart policy starts it again, and the measurement is measured again at once"
WORKER_ID="$(compose ps -q worker | head -1)"
# The newest measurement, as if this worker (process 1 of its container) were measuring it when it dies.
MEASURING="$(docker exec "$WORKER_ID" python manage.py shell --no-imports -c '
import socket
from django.utils import timezone
from volumes.models import Measurement
from volumes.services.measuring import process_start
newest = Measurement.objects.latest("pk")
Measurement.objects.filter(pk=newest.pk).update(state=Measurement.State.RUNNING, started_at=timezone.now(),
                                                worker=f"{socket.gethostname()}:1@{process_start(1)}")
print(newest.pk)' | tail -1 | tr -d '\r')"
kill -KILL "$(docker inspect -f '{{.State.Pid}}' "$WORKER_ID")"
for _ in $(seq 60); do
    [ "$(docker inspect -f '{{.RestartCount}} {{.State.Running}}' "$WORKER_ID")" = "1 true" ] && break
    sleep 2
done
docker inspect -f 'worker restarts: {{.RestartCount}}, running: {{.State.Running}}' "$WORKER_ID"
test "$(docker inspect -f '{{.State.Running}}' "$WORKER_ID")" = true
.venv/bin/python - "$BASE" "$PASSWORD" "$MEASURING" <<'PY'
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("smoke", ".ci/smoke.py")
smoke = importlib.util.module_from_spec(spec); spec.loader.exec_module(smoke)
import requests
base, password, pk = sys.argv[1:]
session = requests.Session()
smoke.sign_in(session, base, "admin", password)
for _ in range(60):  # not VOLUMES_MEASUREMENT_TIMEOUT (900 s): the restarted worker sees its predecessor died
    detail = session.get(f"{base}/api/measurements/{pk}/", timeout=30).json()
    if detail["state"] == "done" and detail["attempts"] == 2:
        break
    time.sleep(2)
print(f"measurement {pk}: {detail['state']}, attempt {detail['attempts']}, retried because {detail['retried_because']!r}, "
      f"{detail['volume_mm3']:,.3f} mm³")
assert detail["state"] == "done" and detail["attempts"] == 2, detail
assert detail["retried_because"] == "the worker measuring it (process 1) stopped before it finished", detail
assert round(detail["volume_mm3"], 3) == smoke.EXPECTED_VOLUME_MM3
PY

step "a settings error stops a worker with its message"
if compose run --rm -e VOLUMES_THRESHOLD=abc worker > "$WORK/bad" 2>&1; then
    echo "compose_check: the worker started with VOLUMES_THRESHOLD=abc" >&2; exit 1
fi
grep "VOLUMES_THRESHOLD='abc' is not a valid float" "$WORK/bad"

step "/healthz answers 503 while the database is down; once it is back, 200 and a measurement"
compose stop db
CODE="$(curl -sS --max-time 60 -o "$WORK/health" -w '%{http_code}' "$BASE/healthz")"
echo "/healthz $CODE: $(cat "$WORK/health")"
test "$CODE" = 503
grep -q '"database": {"ok": false' "$WORK/health"
compose start db
wait_healthy
.venv/bin/python .ci/smoke.py --against "$BASE" --password "$PASSWORD"

step "down, then up again: the data is kept"
compose down
compose up -d
wait_healthy
# The migration ran again and kept the account: no new password, the sign-in hint instead.
compose logs --no-color migrate | grep "Sign in at $BASE/ with your account. Forgotten password: docker compose exec web python manage.py changepassword admin"
.venv/bin/python - "$BASE" "$PASSWORD" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("smoke", ".ci/smoke.py")
smoke = importlib.util.module_from_spec(spec); spec.loader.exec_module(smoke)
import requests
base, password = sys.argv[1:]
session = requests.Session()
smoke.sign_in(session, base, "admin", password)
kept = session.get(f"{base}/api/measurements/", timeout=30).json()
volumes = sorted(round(m["volume_mm3"], 3) for m in kept["results"])
print(f"kept after down/up: {kept['count']} measurements, volumes {volumes}")
assert kept["count"] == 3 and volumes == [smoke.EXPECTED_VOLUME_MM3] * 3
preview = session.get(kept["results"][0]["thumbnail_url"], timeout=30)
assert preview.status_code == 200 and preview.content[:4] == b"\x89PNG", preview.status_code
print("the stored picture is still served")
PY
.venv/bin/python .ci/smoke.py --against "$BASE" --password "$PASSWORD"
step "compose_check: passed"
