"""Reading a trace as the trace viewer keeps it (core.operations.trace_viewer: one dict per span with its ids,
name and process role), for the tests that follow a click through the processes: no Django needed."""


def ancestors(span: dict, spans: list[dict]) -> list[dict]:
    by_id = {item["span_id"]: item for item in spans}
    chain = []
    while span["parent_id"] in by_id:
        span = by_id[span["parent_id"]]
        chain.append(span)
    return chain


def one(spans: list[dict], role: str, name: str) -> dict:
    found = [span for span in spans if span["role"] == role and span["name"].startswith(name)]
    assert len(found) == 1, f"{role} {name!r}: {found} in {spans}"
    return found[0]
