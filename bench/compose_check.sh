#!/bin/sh
# `docker compose up --build` for real, checked end to end (README, "Docker", says when it last ran):
#   up; the first account printed with the right command; /healthz; sign in, upload the challenge file
#   over HTTP, poll it to 143,280.029 mm³; --scale worker=2 and measure again; a killed worker comes
#   back; a settings error stops a worker with its message; files owned by the image's user; down, up
#   again: the account, the measurements and their files are still there.
# Needs a Docker engine on this machine (here: ../shared/tools/docker-standin start), root (to kill a
# container's process as a crash would) and `make test`'s .venv (for .ci/smoke.py).
# Uses its own compose project and port (COMPOSE_CHECK_PORT, default 8280) and removes its volumes at the end.
set -eu
cd "$(dirname "$0")/.."
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
step "sign in, upload, measure"
.venv/bin/python .ci/smoke.py --against "$BASE" --password "$PASSWORD"
curl -fsS -o /dev/null -w "static file: %{http_code}\n" "$BASE/static/volumes/style.css"

step "--scale worker=2"
compose up -d --scale worker=2
test "$(compose ps -q worker | wc -l)" -eq 2
compose ps
.venv/bin/python .ci/smoke.py --against "$BASE" --password "$PASSWORD"

step "a worker killed as by a crash (SIGKILL to its process) is started again by its restart policy"
WORKER_ID="$(compose ps -q worker | head -1)"
kill -KILL "$(docker inspect -f '{{.State.Pid}}' "$WORKER_ID")"
for _ in $(seq 60); do
    [ "$(docker inspect -f '{{.RestartCount}} {{.State.Running}}' "$WORKER_ID")" = "1 true" ] && break
    sleep 2
done
docker inspect -f 'worker restarts: {{.RestartCount}}, running: {{.State.Running}}' "$WORKER_ID"
test "$(docker inspect -f '{{.State.Running}}' "$WORKER_ID")" = true

step "a settings error stops a worker with its message"
if compose run --rm -e VOLUMES_THRESHOLD=abc worker > "$WORK/bad" 2>&1; then
    echo "compose_check: the worker started with VOLUMES_THRESHOLD=abc" >&2; exit 1
fi
grep "VOLUMES_THRESHOLD='abc' is not a valid float" "$WORK/bad"

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
assert kept["count"] == 2 and volumes == [smoke.EXPECTED_VOLUME_MM3] * 2
preview = session.get(kept["results"][0]["thumbnail_url"], timeout=30)
assert preview.status_code == 200 and preview.content[:4] == b"\x89PNG", preview.status_code
print("the stored picture is still served")
PY
.venv/bin/python .ci/smoke.py --against "$BASE" --password "$PASSWORD"
step "compose_check: passed"
