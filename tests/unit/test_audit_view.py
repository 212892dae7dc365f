"""The audit viewer's filters (server/audit_view.py) against a real Storage: validation, SQL, paging, CSV."""

from __future__ import annotations

import pytest

from server.audit_view import QueryError, entries_csv, page, page_sql, parse_query
from server.storage import Storage

GROUP = "g-0123456789abcdef"


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"before": "-1"}, "before"), ({"from": "2026-13-01"}, "from"), ({"to": "yesterday"}, "to"),
    ({"from": "2026-12-03", "to": "2026-12-01"}, "to"), ({"group": "evening"}, "group"),
    ({"actor": "' OR 1=1 --"}, "actor"), ({"format": "xml"}, "format"), ({"order": "asc"}, "order")])
def test_bad_filters_are_refused_naming_the_parameter(params, field) -> None:
    with pytest.raises(QueryError) as refused:
        parse_query(params)
    assert refused.value.field == field


def test_filters_select_the_groups_entries_and_pages_go_back_to_the_start(records_where) -> None:
    storage = Storage(records_where)  # on both backends: the group's filter reads JSON in each one's SQL
    try:
        storage.audit("join", actor="m-1", room=f"{GROUP}-2026-12-03")
        storage.audit("group-created", actor="a-1", subject=GROUP, detail={"group": GROUP})
        storage.audit("member-changed", actor="a-1", subject="m-1")
        storage.audit("join", actor="m-9", room="g-ffffffffffffffff-2026-12-03")
        storage.audit("join", actor="x", room=f"{GROUP}x")  # only a prefix of the id: not the group
        storage.flush()

        def read(params, members=()):
            query = parse_query(params)
            sql, args = page_sql(query, members, storage.dialect)
            rows = storage._read(lambda db: db.execute(sql, args).fetchall()).result()
            return page(rows, query.limit)

        entries, more = read({"group": GROUP}, ["m-1"])
        assert [e["seq"] for e in entries] == [3, 2, 1] and more is None
        entries, more = read({"action": "join", "limit": "1"})
        assert [e["seq"] for e in entries] == [5] and more == 5
        entries, more = read({"action": "join", "limit": "2", "before": str(more)})
        assert [e["seq"] for e in entries] == [4, 1] and more is None
        assert read({"from": "1990-01-01", "to": "1990-01-31"}) == ([], None)
        assert entries[0]["at"].endswith("Z") and isinstance(entries[0]["detail"], dict)
    finally:
        storage.close()


def test_csv_cells_never_become_spreadsheet_formulas() -> None:
    text = entries_csv([{"seq": 1, "at": "2026-12-03T00:00:00.000Z", "action": "admit", "actor": "=cmd|'/c calc'!A1",
                         "role": "host", "room": "+r", "session_id": "-s", "subject": "@x", "detail": {}}])
    row = text.splitlines()[1]
    assert "'=cmd" in row and ",'+r," in row and ",'-s," in row and ",'@x," in row
