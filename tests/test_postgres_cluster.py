"""The throwaway PostgreSQL cluster the Postgres backend's tests run on (issue 14): a real server from Debian's
postgresql package, on loopback only, one fresh database per test, stopped by its pid and deleted at the end."""

from __future__ import annotations

import os

import psycopg

from swarm.testing.postgres import ThrowawayPostgres


def test_each_test_gets_its_own_empty_database(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE goals (id serial PRIMARY KEY, text text NOT NULL)")
        conn.execute("INSERT INTO goals (text) VALUES (%s)", ("count the primes below 100",))
        assert conn.execute("SELECT text FROM goals").fetchall() == [("count the primes below 100",)]


def test_a_second_test_does_not_see_the_firsts_tables(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone()
        assert tables == (0,)


def test_the_server_listens_on_loopback_only(throwaway_postgres):
    with psycopg.connect(throwaway_postgres.url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)


def test_a_cluster_is_stopped_by_its_pid_and_leaves_nothing_behind():
    cluster = ThrowawayPostgres().start()
    pid, folder = cluster.pid, cluster.folder
    with psycopg.connect(cluster.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    cluster.stop()

    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert not folder.exists()
