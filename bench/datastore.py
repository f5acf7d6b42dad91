"""Generated DAO vs raw sqlite3 on the same statements, in one run.

    uv run python bench/datastore.py [--rows 20000]

Both sides use the same database settings (pragmas) and table layout, and
start from the same list of dict records, so the difference is the DAO's
own work: building parameters, converting values, shaping rows as dicts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# pylint: disable=wrong-import-position  # the path line above makes these importable
from modules.datastore import DAO, Database, Datastore, Entity, Field

FIELDS = (
    Field("name", required=True),
    Field("email"),
    Field("age", "integer"),
    Field("score", "real"),
)
COLUMNS = ("name", "email", "age", "score")
ROUNDS = 3


def records(count: int) -> list[dict]:
    """The input both sides insert."""
    return [
        {"name": f"user {i}", "email": f"user{i}@example.com", "age": i % 90, "score": i * 0.5}
        for i in range(count)
    ]


def timed(count: int, work: Callable[[], None]) -> float:
    """Run `work` once; rows per second."""
    start = time.perf_counter()
    work()
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    return rate


def main() -> None:  # pylint: disable=too-many-locals  # one closure per measured loop
    """Print rows/s for both sides and the DAO's share of raw speed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    n = args.rows
    data = records(n)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        dao = Datastore(db).register(Entity("dao_person", FIELDS))
        assert isinstance(dao, DAO)
        Datastore(db).register(Entity("raw_person", FIELDS))
        conn = db.conn
        insert_sql = f"INSERT INTO raw_person ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?)"
        get_sql = f"SELECT id, {', '.join(COLUMNS)} FROM raw_person WHERE id = ?"
        cols = ("id", *COLUMNS)
        single = data[: n // 4]

        def raw_single() -> None:
            for rec in single:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(insert_sql, (rec["name"], rec["email"], rec["age"], rec["score"]))
                conn.execute("COMMIT")

        def dao_single() -> None:
            for rec in single:
                dao.insert(rec)

        def raw_batch() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                insert_sql, ((r["name"], r["email"], r["age"], r["score"]) for r in data)
            )
            conn.execute("COMMIT")

        def dao_batch() -> None:
            dao.insert_many(data)

        total = len(single) + n  # rows present after the first round
        ids = list(range(1, total + 1))

        def raw_get() -> None:
            for i in ids:
                row = conn.execute(get_sql, (i,)).fetchone()
                dict(zip(cols, row))

        def dao_get() -> None:
            for i in ids:
                dao.get(i)

        figures = []
        print(f"rows={n} sqlite={db.execute_one('select sqlite_version()')[0]}")
        for label, raw, ours, count in (
            ("single-row insert (1 tx each)", raw_single, dao_single, len(single)),
            ("batched insert (1 tx)", raw_batch, dao_batch, n),
            ("get by id", raw_get, dao_get, len(ids)),
        ):
            # Interleaved rounds, best of each: fair to whichever runs first.
            raw_rate = dao_rate = 0.0
            for _ in range(ROUNDS):
                raw_rate = max(raw_rate, timed(count, raw))
                dao_rate = max(dao_rate, timed(count, ours))
            figures.append((label, raw_rate, dao_rate))
        print(f"rows/s, best of {ROUNDS} interleaved rounds; DAO share of raw (target >= 80 %)")
        for label, raw_rate, dao_rate in figures:
            print(
                f"  {label:<32} raw {raw_rate:>10,.0f}  DAO {dao_rate:>10,.0f}"
                f"  {dao_rate / raw_rate:>5.0%}"
            )
        db.close()


if __name__ == "__main__":
    main()
