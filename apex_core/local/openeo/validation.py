"""Static checks of a process graph, before anything runs (``POST /validation``, ``/result``, ``/jobs``).

:func:`validate_process_graph` walks a graph and the child graphs of its callbacks (``reducer``,
``process``...) and returns every problem it finds as a
:class:`~apex_core.local.openeo.model.ProcessGraphError` carrying its official openEO error code:

* the graph's shape: a mapping of nodes, each with a ``process_id`` and ``arguments``, exactly one
  ``result`` node, every ``from_node`` naming a node of the same graph (``ProcessGraphInvalid``);
* every process is one the backend runs, in the predefined namespace (``ProcessUnsupported``);
* every required parameter of its official spec is given (``ProcessParameterRequired``) and no argument
  is unknown to it (``ProcessParameterUnsupported``; except :data:`TOLERATED_ARGUMENTS`);
* arguments given as literal values (no ``from_node`` / ``from_parameter`` in them) are checked where the
  backend knows their rules: ``load_collection``'s collection id (``CollectionNotFound``), bands, spatial and
  temporal extents, ``resample_spatial``'s resolution and ``save_result``'s format
  (``ProcessParameterInvalid``, with what to change).

Values computed by the graph are checked when it runs, by the same functions
(:func:`check_resolution`, :func:`~apex_core.local.openeo.data.parse_spatial_extent`...).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from apex_core.local.openeo.data import parse_spatial_extent, parse_temporal_extent
from apex_core.local.openeo.model import (
    OUTPUT_FORMATS,
    CollectionNotFound,
    ProcessGraphError,
    ProcessParameterInvalid,
    ProcessParameterRequired,
    ProcessParameterUnsupported,
    ProcessUnsupported,
)

__all__ = [
    "FORMAT_ALIASES",
    "TOLERATED_ARGUMENTS",
    "check_resolution",
    "is_literal",
    "validate_process_graph",
]

# Output format names save_result accepts (case-insensitive), and the format each one means.
FORMAT_ALIASES = {"gtiff": "GTiff", "geotiff": "GTiff", "tiff": "GTiff", "tif": "GTiff", "cog": "GTiff"}
# Arguments a process accepts although its spec does not have them: other back-ends' extensions
# (``featureflags``), and ``align``, which the stock openeo client sends (openEO processes 2.0) and
# openeo-processes-dask implements, though the spec it ships predates it.
TOLERATED_ARGUMENTS: Mapping[str, frozenset[str]] = {
    "load_collection": frozenset({"featureflags"}),
    "resample_spatial": frozenset({"align"}),
}
_NAMESPACES = (None, "", "backend", "predefined")


def check_resolution(resolution: Any, process: str = "resample_spatial") -> None:
    """``resample_spatial``'s resolution: a number >= 0 or two of them (x, y); 0 keeps the resolution."""
    values = list(resolution) if isinstance(resolution, list | tuple) else [resolution]
    if isinstance(resolution, list | tuple) and len(values) != 2:
        raise ProcessParameterInvalid(
            process, "resolution", f"give one number or two [x, y], not {len(values)} values."
        )
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ProcessParameterInvalid(
                process, "resolution", f"{value!r} is not a number: give the pixel size in CRS units."
            )
        if value < 0:
            raise ProcessParameterInvalid(
                process,
                "resolution",
                f"{value:g} is negative: give the pixel size as a positive number in CRS units "
                "(0 keeps the current resolution).",
            )


def is_literal(value: Any) -> bool:
    """No ``from_node``/``from_parameter`` reference and no callback anywhere in ``value``."""
    if isinstance(value, Mapping):
        if {"from_node", "from_parameter", "process_graph"} & set(value):
            return False
        return all(is_literal(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(is_literal(v) for v in value)
    return True


def validate_process_graph(
    graph: Any,
    specs: Mapping[str, Mapping[str, Any]],
    collections: Mapping[str, Sequence[str]],
) -> list[ProcessGraphError]:
    """Every problem of ``graph`` (a flat process graph, or a process with a ``process_graph``) found
    without running it; empty when it is valid. ``specs`` are the runnable processes' specs by id,
    ``collections`` the collection ids with their band names."""
    if isinstance(graph, Mapping) and "process_graph" in graph:
        graph = graph["process_graph"]
    return list(_check_graph(graph, specs, collections, where="the process graph"))


def _check_graph(
    graph: Any,
    specs: Mapping[str, Mapping[str, Any]],
    collections: Mapping[str, Sequence[str]],
    where: str,
) -> Iterator[ProcessGraphError]:
    if not isinstance(graph, Mapping) or not graph:
        yield ProcessGraphError(
            f"{where} must be a non-empty JSON object of nodes, got {type(graph).__name__}."
        )
        return
    results = [node_id for node_id, node in graph.items() if isinstance(node, Mapping) and node.get("result")]
    if len(results) != 1:
        yield ProcessGraphError(
            f'{where} must have exactly one node with "result": true, it has {len(results)}'
            + (f" ({', '.join(map(str, results))})." if results else ".")
        )
    for node_id, node in graph.items():
        yield from _check_node(str(node_id), node, graph, specs, collections, where)


def _check_node(
    node_id: str,
    node: Any,
    graph: Mapping[str, Any],
    specs: Mapping[str, Mapping[str, Any]],
    collections: Mapping[str, Sequence[str]],
    where: str,
) -> Iterator[ProcessGraphError]:
    if not isinstance(node, Mapping) or not isinstance(node.get("process_id"), str):
        yield ProcessGraphError(f"Node '{node_id}' of {where} needs a \"process_id\" (a string).")
        return
    process_id = str(node["process_id"])
    arguments = node.get("arguments", {})
    if not isinstance(arguments, Mapping):
        yield ProcessGraphError(
            f"The \"arguments\" of node '{node_id}' ({process_id}) must be a JSON object."
        )
        return
    for ref in _node_refs(arguments):
        if ref not in graph:
            yield ProcessGraphError(
                f"Node '{node_id}' ({process_id}) refers to a node '{ref}' that {where} does not have."
            )
    for name, value in arguments.items():
        for child in _child_graphs(value):
            yield from _check_graph(child, specs, collections, f"the callback '{name}' of node '{node_id}'")
    namespace = node.get("namespace")
    spec = specs.get(process_id)
    if spec is None or namespace not in _NAMESPACES:
        yield ProcessUnsupported(process_id, str(namespace) if namespace else None)
        return
    params = {str(p["name"]): p for p in spec.get("parameters", [])}
    for name, param in params.items():
        if name not in arguments and not param.get("optional", False):
            yield ProcessParameterRequired(process_id, name)
    tolerated = TOLERATED_ARGUMENTS.get(process_id, frozenset())
    for name in arguments:
        if name not in params and name not in tolerated:
            yield ProcessParameterUnsupported(process_id, str(name), tuple(params))
    yield from _check_values(process_id, arguments, collections)


def _node_refs(value: Any) -> Iterator[str]:
    """The ``from_node`` references of this graph level (not those inside callbacks)."""
    if isinstance(value, Mapping):
        if "process_graph" in value:
            return
        if "from_node" in value:
            yield str(value["from_node"])
            return
        for v in value.values():
            yield from _node_refs(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _node_refs(v)


def _child_graphs(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        if "process_graph" in value:
            yield value["process_graph"]
            return
        for v in value.values():
            yield from _child_graphs(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _child_graphs(v)


def _check_values(
    process_id: str, arguments: Mapping[str, Any], collections: Mapping[str, Sequence[str]]
) -> Iterator[ProcessGraphError]:
    literal = {k: v for k, v in arguments.items() if is_literal(v)}
    if process_id == "load_collection":
        yield from _check_load_collection(literal, collections)
    elif process_id == "resample_spatial" and "resolution" in literal:
        try:
            check_resolution(literal["resolution"])
        except ProcessGraphError as exc:
            yield exc
    elif process_id == "save_result" and "format" in literal:
        fmt = literal["format"]
        if not isinstance(fmt, str) or fmt.lower() not in FORMAT_ALIASES:
            yield ProcessParameterInvalid(
                "save_result", "format", f"{fmt!r} is not supported; use one of {list(OUTPUT_FORMATS)}."
            )


def _check_load_collection(
    literal: Mapping[str, Any], collections: Mapping[str, Sequence[str]]
) -> Iterator[ProcessGraphError]:
    collection = literal.get("id")
    if isinstance(collection, str) and collection not in collections:
        yield CollectionNotFound(collection, tuple(collections))
    bands = literal.get("bands")
    if isinstance(collection, str) and collection in collections and bands is not None:
        known = list(collections[collection])
        if not isinstance(bands, list) or not all(isinstance(b, str) for b in bands):
            yield ProcessParameterInvalid(
                "load_collection", "bands", f"give a list of band names from {known}."
            )
        elif not bands:
            yield ProcessParameterInvalid(
                "load_collection", "bands", f"the list is empty; name some of {known}."
            )
        elif unknown := [b for b in bands if b not in known]:
            yield ProcessParameterInvalid(
                "load_collection", "bands", f"unknown band(s) {unknown}; {collection} has {known}."
            )
    checks = (("spatial_extent", parse_spatial_extent), ("temporal_extent", parse_temporal_extent))
    for name, parse in checks:
        if name in literal:
            try:
                parse(literal[name])
            except ProcessGraphError as exc:
                yield exc
