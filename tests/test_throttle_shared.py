"""The API's limits hold across processes: two web servers (as on two hosts) on one database share the
throttle's counts and the sign-in lock-out, so that running more processes does not multiply the limit.

The database is the suite's: SQLite in a folder of the test's own, or a scratch PostgreSQL database
when the suite runs on PostgreSQL (DATABASE_URL).
"""
from contextlib import ExitStack

import requests

from .gunicorn_server import database_environment, manage, token_for_new_user, web_server

USER_RATE = 3
FAILURE_LIMIT = 3


def test_two_web_servers_share_the_rate_limit_and_the_lock_out(tmp_path):
    with ExitStack() as stack:
        env = stack.enter_context(database_environment(
            tmp_path, VOLUMES_API_RATE_USER=f"{USER_RATE}/minute", VOLUMES_API_RATE_ADDRESS="1000/minute",
            VOLUMES_SIGNIN_FAILURE_LIMIT=str(FAILURE_LIMIT),
        ))
        manage(env, "migrate", "--noinput", "-v", "0")  # creates the throttle's cache table too
        key = token_for_new_user(env, "ada")
        first, second = (stack.enter_context(web_server(env)) for _ in range(2))
        good = {"Authorization": f"Bearer {key}"}

        answers = [requests.get(f"{first}/api/measurements/", headers=good, timeout=60) for _ in range(USER_RATE)]
        assert [a.status_code for a in answers] == [200] * USER_RATE
        refused = requests.get(f"{second}/api/measurements/", headers=good, timeout=60)
        assert refused.status_code == 429, "the second server counted on its own"
        assert refused.json()["error"].startswith("Too many requests") and int(refused.headers["Retry-After"]) > 0

        failures = [requests.get(f"{server}/api/measurements/", headers={"Authorization": f"Bearer guess-{n}"}, timeout=60)
                    for n, server in enumerate([first, first, second])]
        assert [f.status_code for f in failures] == [401, 401, 429]
        locked = requests.get(f"{first}/api/measurements/", headers=good, timeout=60)
        assert locked.status_code == 429
        assert locked.json() == {"error": "Too many failed sign-ins from here; try again later."}
