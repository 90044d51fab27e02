"""``field__any=ids``: membership in a list of integers, bound as one array on PostgreSQL.

``field__in=ids`` compiles one placeholder per id, which Django builds and PostgreSQL parses
one by one: about 0.1 s per query for a 10,000-lead scoring batch. ``= ANY(%s::bigint[])`` binds
the whole list as one parameter. Elsewhere it is a plain ``IN`` list.
"""

from typing import Any

from django.db.models import ForeignKey, IntegerField, Lookup


@IntegerField.register_lookup
@ForeignKey.register_lookup
class AnyOf(Lookup[Any]):
    lookup_name = "any"
    prepare_rhs = False  # a list of ints, not one value of the field

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = [int(i) for i in self.rhs]
        if not ids:
            return "1 = 0", []
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", [*lhs_params, *ids]

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, [int(i) for i in self.rhs]]
