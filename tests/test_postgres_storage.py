"""hpsearch against a real PostgreSQL server: storage round trips, `list`, failures, restarts.

No model is trained here: trials use a trivial objective, so the file runs in seconds.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from collections.abc import Iterator

import optuna
import psycopg2
import pytest
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from optuna_dashboard._storage_url import get_storage
from sqlalchemy.engine import make_url

from hpsearch.store.storage import open_storage, quiet_optuna
from tests.helpers import run_cli, wait_until
from tests.postgres import DATABASE, PostgresServer, free_port

pytestmark = pytest.mark.timeout(120)


def _quadratic(trial: optuna.Trial) -> float:
    return (trial.suggest_float("x", -10.0, 10.0) - 2.0) ** 2


@pytest.fixture
def storage(database: str) -> Iterator[RDBStorage]:
    quiet_optuna()
    opened = open_storage(database)
    yield opened
    opened.engine.dispose()  # give the connections back before the server is stopped


def _finished(storage: RDBStorage, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=storage)
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def test_trials_round_trip_through_the_server(postgres: PostgresServer, database: str,
                                              storage: RDBStorage) -> None:
    study = optuna.create_study(storage=storage, study_name="quadratic", direction="minimize")
    study.optimize(_quadratic, n_trials=4)

    reopened = open_storage(database)  # a second client, as another worker would be
    try:
        trials = _finished(reopened, "quadratic")
        assert [t.params for t in trials] == [t.params for t in study.trials]
        assert [t.value for t in trials] == [t.value for t in study.trials]
        assert optuna.load_study(study_name="quadratic", storage=reopened).best_value == study.best_value
    finally:
        reopened.engine.dispose()
    conn = postgres.connect(database.rsplit("/", 1)[1])  # the rows really are in PostgreSQL
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'")
            assert cursor.fetchone() == (4,)
    finally:
        conn.close()


def test_list_shows_the_stored_study_without_the_password(postgres: PostgresServer, database: str,
                                                          storage: RDBStorage) -> None:
    optuna.create_study(storage=storage, study_name="listed-study").optimize(_quadratic, n_trials=2)

    for result in (run_cli("list", "--storage", database, timeout=60),
                   run_cli("list", env={"HPSEARCH_STORAGE": database}, timeout=60)):
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "listed-study" in result.stdout
        assert "2/0" in result.stdout  # finished/target: created outside hpsearch, so no target
        assert f"{postgres.url_for('x').split(':')[0]}://hpsearch:***@127.0.0.1" in result.stdout
        assert postgres.password not in output


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that completes TCP handshakes but never answers, like a hung server or a firewall."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)  # the kernel accepts connections; nobody ever reads from them
        yield int(sock.getsockname()[1])


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return result.stderr.strip().splitlines()


@pytest.mark.parametrize("failure", ["closed port", "wrong password", "silent server"])
def test_unusable_server_is_one_masked_message_and_exit_1(postgres: PostgresServer, silent_port: int,
                                                          failure: str) -> None:
    secret, url = postgres.password, postgres.url_for(DATABASE, port=free_port())
    if failure == "wrong password":
        secret = "wrong-" + secrets.token_hex(8)
        url = postgres.url_for(DATABASE, password=secret)
    elif failure == "silent server":
        url = postgres.url_for(DATABASE, port=silent_port)

    started = time.monotonic()
    result = run_cli("list", "--storage", url, timeout=60)
    elapsed = time.monotonic() - started

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert elapsed < 10, f"took {elapsed:.1f}s"
    assert "Traceback" not in output
    assert secret not in output
    message = " ".join(line.strip() for line in _error_lines(result))
    assert message.startswith("error: cannot open storage postgresql://hpsearch:***@127.0.0.1:"), message
    expected = {"closed port": "Connection refused", "wrong password": "password authentication failed",
                "silent server": "timeout expired"}[failure]
    assert expected in message


def test_storage_error_stays_on_one_line_when_stderr_is_a_file(postgres: PostgresServer) -> None:
    result = run_cli("list", "--storage", postgres.url_for(DATABASE, port=free_port()),
                     env={"COLUMNS": "80"}, timeout=60)
    assert result.returncode == 1
    assert len(_error_lines(result)) == 1, result.stderr


def test_postgres_alias_url_also_times_out(postgres: PostgresServer, silent_port: int) -> None:
    url = postgres.url_for(DATABASE, port=silent_port).replace("postgresql://", "postgres://", 1)
    try:
        result = run_cli("list", "--storage", url, timeout=12)
    except subprocess.TimeoutExpired:
        pytest.fail("hpsearch list hung on a server that never answers")
    assert result.returncode == 1 and "timeout expired" in result.stderr


def test_storage_survives_a_server_restart(postgres: PostgresServer, database: str,
                                           storage: RDBStorage) -> None:
    study = optuna.create_study(storage=storage, study_name="restarted", direction="minimize")
    study.optimize(_quadratic, n_trials=2)
    bystander = postgres.connect()
    before = postgres.pid

    postgres.restart()

    assert postgres.pid is not None and postgres.pid != before
    with pytest.raises(psycopg2.Error):  # the restart really cut open connections...
        with bystander.cursor() as cursor:
            cursor.execute("SELECT 1")
    bystander.close()
    study.optimize(_quadratic, n_trials=2)  # ...yet the storage's pool reconnects (pool_pre_ping)
    assert len(_finished(storage, "restarted")) == 4


def test_optuna_and_the_dashboard_open_the_same_url(database: str, storage: RDBStorage) -> None:
    """Users hand the URL hpsearch uses to Optuna's own tools, which let SQLAlchemy pick the
    driver: psycopg 3 for postgresql:// since SQLAlchemy 2.1, so it must be installed too."""
    optuna.create_study(storage=storage, study_name="shared", direction="maximize").optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=2)

    assert make_url(database).get_dialect().driver == "psycopg"  # what the plain URL connects with
    plain = optuna.load_study(study_name="shared", storage=database)
    assert [t.value for t in plain.trials] == [t.value for t in _finished(storage, "shared")]
    dashboard = get_storage(database)
    try:
        assert optuna.load_study(study_name="shared", storage=dashboard).best_value == plain.best_value
    finally:
        dashboard.engine.dispose()  # type: ignore[attr-defined]


def test_storage_survives_its_connections_being_killed(postgres: PostgresServer, database: str,
                                                       storage: RDBStorage) -> None:
    """An administrator (or an idle timeout) ending every session: the next write reconnects."""
    assert storage.engine.pool.size() == 2  # type: ignore[attr-defined]  # bounded per worker process
    study = optuna.create_study(storage=storage, study_name="killed")
    study.set_user_attr("before", 1)
    admin = postgres.connect(database.rsplit("/", 1)[1])
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            killed = cursor.fetchall()
    finally:
        admin.close()
    assert killed and all(done for (done,) in killed)  # the storage's pooled connections are gone

    study.set_user_attr("after", 2)
    assert optuna.load_study(study_name="killed", storage=storage).user_attrs == {"before": 1, "after": 2}


def _sessions_of(postgres: PostgresServer, name: str, user: str) -> int:
    """Sessions of `user` on database `name`, counted from a connection of another user."""
    admin = postgres.connect("postgres")
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename = %s", (name, user))
            return int(cursor.fetchone()[0])
    finally:
        admin.close()


def _as_admin(postgres: PostgresServer, database: str, *statements: str) -> None:
    admin = postgres.connect(database)
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        admin.close()


def test_storage_survives_a_long_idle_period(postgres: PostgresServer, database: str) -> None:
    """The server ends sessions idle for a second (as idle timeouts, proxies and firewalls do);
    a worker quiet for longer still writes its next result."""
    name = database.rsplit("/", 1)[1]
    _as_admin(postgres, name, "CREATE ROLE idler LOGIN PASSWORD 'idle-pass'",
              f'GRANT ALL ON DATABASE "{name}" TO idler', "GRANT ALL ON SCHEMA public TO idler")
    quiet_optuna()
    storage = open_storage(f"postgresql://idler:idle-pass@127.0.0.1:{postgres.port}/{name}")
    try:
        study = optuna.create_study(storage=storage, study_name="idle")
        study.set_user_attr("before", 1)
        # The timeout only once the storage is open: on a loaded machine, opening it (several
        # transactions in one session) can itself pause for a second between two of them.
        # A role's settings reach new sessions only, so the open ones are ended too.
        _as_admin(postgres, name, "ALTER ROLE idler SET idle_session_timeout = '1s'",
                  "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'idler'")
        wait_until(lambda: _sessions_of(postgres, name, "idler") == 0, 30, "the server to end the idle sessions")
        study.set_user_attr("between", 0)  # in a new session, which the server ends when idle for 1 s
        wait_until(lambda: _sessions_of(postgres, name, "idler") == 0, 30, "the server to end the idle sessions")
        study.set_user_attr("after", 2)
        assert optuna.load_study(study_name="idle", storage=storage).user_attrs == {"before": 1, "between": 0,
                                                                                   "after": 2}
    finally:
        storage.engine.dispose()


def test_list_never_prints_a_password_given_in_query_or_percent_encoded(postgres: PostgresServer,
                                                                        database: str,
                                                                        storage: RDBStorage) -> None:
    """Working URLs, so the password reaches the server and `list` prints its title with the URL."""
    optuna.create_study(storage=storage, study_name="secretive")
    secret = "p@ss%w0rd:" + secrets.token_hex(6)
    conn = postgres.connect(database.rsplit("/", 1)[1])
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("CREATE ROLE awkward LOGIN SUPERUSER PASSWORD %s", (secret,))
    finally:
        conn.close()
    host = f"127.0.0.1:{postgres.port}/{database.rsplit('/', 1)[1]}"
    encoded = secret.replace("%", "%25").replace("@", "%40").replace(":", "%3A")
    for url in (f"postgresql://hpsearch@{host}?password={postgres.password}",
                f"postgresql://awkward:{encoded}@{host}",
                f"postgresql://awkward@{host}?sslmode=disable&password={encoded}"):
        for command in (["list"], ["summary", "secretive"]):
            result = run_cli(*command, "--storage", url, timeout=60)
            output = result.stdout + result.stderr
            assert result.returncode == 0, output
            assert "secretive" in result.stdout
            for leaked in (postgres.password, secret, encoded, secret.rsplit(":", 1)[1]):
                assert leaked not in output, command
