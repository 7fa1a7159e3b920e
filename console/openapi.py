"""The OpenAPI 3.1 document of the console API, generated from the endpoint list.

Schemas come from the pydantic models (`models_json_schema` with refs into
`#/components/schemas`); query parameters from each query model's fields; path
parameters from the path. Every endpoint of `console.http.Endpoint` appears, so the
document cannot drift from the routes. Errors share one `Problem` schema (RFC 9457).
Imports `console.http` only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from console.http import MAX_ID, MAX_PATH_PARAM, Endpoint

REF = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"{(\w+)}")
UUID_PARAMS = frozenset(
    {"lead_id", "activity_id", "inquiry_id", "contact_id", "company_id", "deal_id"}
)
INT_SUFFIX = "_id"
ERRORS = {
    "400": "Malformed JSON",
    "401": "Not signed in, or the token is not valid",
    "403": "Not allowed for this role, or a missing CSRF token",
    "404": "Nothing here (or not visible to the caller)",
    "409": "Conflicts with the current state",
    "422": "Invalid input; `errors` names each field",
    "429": "Too many attempts; see Retry-After",
}


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: dict[str, str] | None = None


def _models(endpoints: Sequence[Endpoint]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for e in endpoints:
        for model, mode in ((e.body, "validation"), (e.response, "serialization")):
            if isinstance(model, type) and issubclass(model, BaseModel):
                pair: tuple[type[BaseModel], JsonSchemaMode] = (model, mode)  # type: ignore[assignment]
                if pair not in wanted:
                    wanted.append(pair)
    return wanted


def _path_params(path: str) -> list[dict[str, Any]]:
    params = []
    for name in PATH_PARAM.findall(path):
        if name in UUID_PARAMS:
            schema: dict[str, Any] = {"type": "string", "format": "uuid"}
        elif name.endswith(INT_SUFFIX):
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        else:
            schema = {"type": "string", "minLength": 1, "maxLength": MAX_PATH_PARAM}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _query_params(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(by_alias=True, ref_template=REF)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in prop.items() if k != "title"},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(e: Endpoint, refs: Mapping[tuple[Any, Any], Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": e.summary,
        "operationId": f"{e.tag}_{e.handler.__name__}",
        "tags": [e.tag],
        "parameters": _path_params(e.path) + _query_params(e.query),
    }
    if e.access == "public":
        op["security"] = []
    if e.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(e.body, "validation")]}},
        }
    ok: dict[str, Any] = {"description": "Success"}
    if e.response is str:
        ok["content"] = {e.produces: {"schema": {"type": "string"}}}
    elif e.response is not None:
        ok["content"] = {e.produces: {"schema": refs[(e.response, "serialization")]}}
    elif e.status == 200:
        ok["content"] = {e.produces: {"schema": {}}}
    problem = {"application/problem+json": {"schema": refs[(Problem, "serialization")]}}
    op["responses"] = {
        str(e.status): ok,
        **{code: {"description": text, "content": problem} for code, text in ERRORS.items()},
    }
    return op


def openapi_document(
    endpoints: Sequence[Endpoint], *, title: str = "LeadFlow console API", version: str = "1"
) -> dict[str, Any]:
    refs, top = models_json_schema(_models(endpoints), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e, refs)
    security: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"sessionCookie": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Bearer API tokens, or the web UI's session cookie (then every "
            "write needs X-CSRF-Token). Errors are RFC 9457 problem+json.",
        },
        "servers": [{"url": "/"}],
        "security": security,
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "lf_session"},
            },
        },
    }
