"""Plain-SQL columns for querysets read on every request, where building the ORM's own
subquery expression costs more than running the query."""

from __future__ import annotations

from typing import Any

from django.db.models import BooleanField, Model
from django.db.models.expressions import RawSQL


def exists_sql(model: type[Model], where: str, *params: Any) -> RawSQL:
    """``EXISTS`` over ``model``'s rows (aliased ``x``) matching ``where``.

    Only our models' table and column names go into ``where``; values go in ``params``
    (``%s`` placeholders)."""
    sql = f"EXISTS (SELECT 1 FROM {model._meta.db_table} x WHERE {where})"  # noqa: S608
    return RawSQL(sql, params, output_field=BooleanField())  # noqa: S611
