"""Schemathesis hooks of scripts/fuzz-api.

Idempotency-Key: the same key with another request is 422 by design (docs/API.md), but generated
cases reuse short keys ("0", "A", ...) for unrelated requests all the time, so schema-valid
requests would be "rejected" for a reason no schema can state (it depends on earlier requests).
Every well-formed key is therefore made unique per request, keeping it well-formed; malformed
keys (the negative cases, 400) are sent as generated. Replays of one key are covered by
command-api/tests/api/idempotency.rs.
"""

import re
import uuid

import schemathesis

WELL_FORMED = re.compile(r"[!-~]([ -~]{0,253}[!-~])?")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and WELL_FORMED.fullmatch(value):
            headers[name] = f"{value[:220]}~{uuid.uuid4().hex}"


# Uploads: the document names the media types an upload's `file` may be (the multipart
# encoding's contentType); the bytes behind them are real files of those formats, so that
# schema-valid uploads are real images (the negative cases still send arbitrary bytes, 415).
def _register_images():
    from hypothesis import strategies as st
    from schemathesis.core.file_samples import MEDIA_TYPE_FILE_SAMPLES

    for media_type, sample in MEDIA_TYPE_FILE_SAMPLES.items():
        schemathesis.openapi.media_type(media_type, st.just(sample))


_register_images()


# GET /products: two rules of the contract no JSON Schema can state, applied to the cases meant
# to be valid (negative cases are sent as generated):
# - `cursor` is opaque: only a `next_cursor` the API handed out, with the `sort` it was made
#   for, names a position (anything else is 422). Cursors seen in responses are remembered;
#   a schema-valid case keeps its cursor only if it is one of them.
# - `min_price` must not be above `max_price` (422): the two are swapped when they are.
_CURSORS = {}


@schemathesis.hook
def after_call(context, case, response):
    if case.path != "/products" or case.method.upper() != "GET" or response.status_code != 200:
        return
    try:
        cursor = response.json().get("next_cursor")
    except ValueError:
        return
    if isinstance(cursor, str):
        _CURSORS[cursor] = (case.query or {}).get("sort", "-updated")


@schemathesis.hook("before_call")
def valid_list_queries(context, case, kwargs):
    if case.path != "/products" or case.method.upper() != "GET" or not case.query:
        return
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    query = case.query
    cursor = query.get("cursor")
    if cursor is not None and _CURSORS.get(cursor) != query.get("sort", "-updated"):
        del query["cursor"]
    low, high = _integer(query.get("min_price")), _integer(query.get("max_price"))
    if low is not None and high is not None and low > high:
        query["min_price"], query["max_price"] = query["max_price"], query["min_price"]


def _integer(value):
    """A query value as the integer it spells (cases carry them as numbers or as text)."""
    try:
        return int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    except ValueError:
        return None


# POST /imports takes NDJSON, which Schemathesis cannot serialize by itself. The document
# describes the body as text (the lines); generated text is sent as it is, and a value of
# another type (a negative case) as one JSON line, so the service judges every line it gets.
@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    import json

    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return (json.dumps(value) + "\n").encode("utf-8")
