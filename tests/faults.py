"""A fault injected into the database: a trigger that refuses writes of one item's rows.

It fails the statement the way a real constraint would (``unique_violation`` on PostgreSQL,
``RAISE(ABORT)`` — a constraint failure — on SQLite), in every process that writes: the test's
and a real worker's. ``remove()`` (or leaving the block) drops it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count

from django.db import connection, models

_names = count(1)


class DbFault:
    def __init__(self, model: type[models.Model], column: str, value: int, message: str) -> None:
        self.table = model._meta.db_table
        self.name = f"lf_fault_{next(_names)}"
        self.message = message
        self.installed = False
        where = f"NEW.{column} = {int(value)}"
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"CREATE FUNCTION {self.name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN IF {where} THEN RAISE EXCEPTION '{message}' "
                    "USING ERRCODE = 'unique_violation'; END IF; RETURN NEW; END $$"
                )
                cursor.execute(
                    f"CREATE TRIGGER {self.name} BEFORE INSERT OR UPDATE ON {self.table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {self.name}()"
                )
            else:
                for op in ("INSERT", "UPDATE"):
                    cursor.execute(
                        f"CREATE TRIGGER {self.name}_{op.lower()} BEFORE {op} ON {self.table} "
                        f"WHEN {where} BEGIN SELECT RAISE(ABORT, '{message}'); END"
                    )
        self.installed = True

    def remove(self) -> None:
        if not self.installed:
            return
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER {self.name} ON {self.table}")
                cursor.execute(f"DROP FUNCTION {self.name}()")
            else:
                for op in ("insert", "update"):
                    cursor.execute(f"DROP TRIGGER {self.name}_{op}")
        self.installed = False


@contextmanager
def db_fault(
    model: type[models.Model], column: str, value: int, message: str = "injected fault"
) -> Iterator[DbFault]:
    """Writes of ``model`` rows whose ``column`` is ``value`` fail while the block runs."""
    fault = DbFault(model, column, value, message)
    try:
        yield fault
    finally:
        fault.remove()
