"""What openeo-driver's views lack, on its routes: ``PATCH /jobs/{id}`` and ``GET /jobs/{id}/estimate``
(both 501 there), restarting a failed or finished job (``POST /jobs/{id}/results``), ``424`` with the
job's error for the results of a failed job (openeo-driver answers ``JobNotFinished``), ``JSONInvalid``
for a malformed body, ``POST /validation`` of a body without a process graph (a 200 listing
``ProcessGraphMissing``, as the API's validation does), the ``/process_graphs/{id}`` routes with this
backend's id rule (:mod:`.udp`) and ``GET /service_types`` (none: ``{}``).

The views are plain functions reaching the backend through the app (:func:`_backend`);
:func:`install_api_extensions` puts them on openeo-driver's endpoints.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import flask
from openeo_driver.errors import (
    JobNotFinishedException,
    OpenEOApiException,
    ProcessGraphMissingException,
    ProcessGraphNotFoundException,
)
from openeo_driver.users import User
from openeo_driver.users.auth import HttpAuthHandler

from apex_core.local.openeo.backend import LocalBackend
from apex_core.local.openeo.udp import check_process_id

__all__ = ["install_api_extensions"]

_BACKEND = "apex_backend"


def _backend() -> LocalBackend:
    """The backend of the app serving this request (:func:`install_api_extensions` keeps it)."""
    backend: LocalBackend = flask.current_app.extensions[_BACKEND]
    return backend


_UDP_PATH = re.compile(r"/openeo(?:/[^/]+)?/process_graphs/(.*)", re.DOTALL)


class _JsonRequest(flask.Request):
    """Requests whose malformed JSON body is a client error with an openEO code (openeo-driver's
    default turns werkzeug's ``BadRequest`` into the code ``Internal``)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            raise OpenEOApiException(
                message="The media type is not supported. Allowed: application/json.",
                code="ContentTypeInvalid",
                status_code=400,
            )
        raise OpenEOApiException(
            message=f"The request body is not valid JSON ({e}); send a JSON object.",
            code="JSONInvalid",
            status_code=400,
        )


def validation(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def validate(*args: Any, **kwargs: Any) -> Any:
        body = flask.request.get_json()  # no body, or not JSON: a 400 as before
        if isinstance(body, Mapping) and "process_graph" not in body:
            missing = ProcessGraphMissingException()
            return flask.jsonify({"errors": [{"code": missing.code, "message": missing.message}]})
        return view(*args, **kwargs)

    return validate


def service_types() -> flask.Response:
    return flask.jsonify({})  # no secondary web services here


def udp_store(process_graph_id: str, user: User) -> flask.Response:
    check_process_id(process_graph_id)
    spec = flask.request.get_json()
    if not isinstance(spec, Mapping) or "process_graph" not in spec:
        raise ProcessGraphMissingException()
    backend = _backend()
    # Well-formed is enough: a stored process may leave arguments to its parameters or to later use.
    backend.processing.check_structure(spec["process_graph"])  # not an object of nodes: ProcessGraphInvalid
    try:
        backend.udps.save(user_id=user.user_id, process_id=process_graph_id, spec=spec)
    except ValueError as exc:  # NaN or Infinity somewhere: not JSON the API can give back
        raise OpenEOApiException(
            message=f"The process cannot be stored as JSON: {exc}.", code="JSONInvalid", status_code=400
        ) from exc
    return flask.make_response("", 200)


def udp_get(process_graph_id: str, user: User) -> flask.Response:
    check_process_id(process_graph_id)
    spec = _backend().udps.spec(user.user_id, process_graph_id)
    if spec is None:
        raise ProcessGraphNotFoundException(process_graph_id)
    return flask.jsonify(spec)


def udp_delete(process_graph_id: str, user: User) -> flask.Response:
    check_process_id(process_graph_id)
    _backend().udps.delete(user_id=user.user_id, process_id=process_graph_id)
    return flask.make_response("", 204)


def refuse_invalid_process_id() -> None:
    # Every /process_graphs/<id> request, before routing decides anything (a "/" in the id would
    # otherwise be a 404, or a redirect to the path with its slashes merged: another id).
    match = _UDP_PATH.fullmatch(flask.request.path)
    if match:
        check_process_id(match.group(1))


def modify_job(job_id: str, user: User) -> flask.Response:
    _backend().local_jobs.update_job(job_id, user.user_id, flask.request.get_json())
    return flask.make_response("", 204)


def job_estimate(job_id: str, user: User) -> flask.Response:
    return flask.jsonify(_backend().local_jobs.estimate_job(job_id, user.user_id))


def start_job(job_id: str, user: User) -> flask.Response:
    # openeo-driver starts only created or canceled jobs; the API restarts failed and finished ones
    # too, discarding their previous results. Queued and running jobs are left as they are.
    _backend().local_jobs.start_job(job_id, user)
    return flask.make_response("", 202)


def failed_is_424(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def results(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except JobNotFinishedException:
            # Raised only once the view found the user's job: its id is enough to read its status.
            failure = _backend().local_jobs.failure(str(kwargs.get("job_id")))
            if failure is None:
                raise
            raise failure from None

    return results


def install_api_extensions(app: flask.Flask, backend: LocalBackend) -> None:
    """Put the views above on openeo-driver's endpoints (both API versions' blueprints)."""
    app.extensions[_BACKEND] = backend
    auth: HttpAuthHandler = app.extensions["auth_handler"]
    app.request_class = _JsonRequest
    app.add_url_rule("/openeo/<version>/service_types", "service_types", service_types, methods=["GET"])
    app.add_url_rule("/openeo/service_types", "service_types_old", service_types, methods=["GET"])
    app.before_request(refuse_invalid_process_id)

    for blueprint in ("openeo", "openeo_old"):
        app.view_functions[f"{blueprint}.modify_job"] = auth.requires_bearer_auth(modify_job)
        app.view_functions[f"{blueprint}.job_estimate"] = auth.requires_bearer_auth(job_estimate)
        app.view_functions[f"{blueprint}.start_job"] = auth.requires_bearer_auth(start_job)
        app.view_functions[f"{blueprint}.validation"] = validation(
            app.view_functions[f"{blueprint}.validation"]
        )
        app.view_functions[f"{blueprint}.udp_store"] = auth.requires_bearer_auth(udp_store)
        app.view_functions[f"{blueprint}.udp_get"] = auth.requires_bearer_auth(udp_get)
        app.view_functions[f"{blueprint}.udp_delete"] = auth.requires_bearer_auth(udp_delete)
        for name in ("list_job_results", "list_job_results_signed"):
            endpoint = f"{blueprint}.{name}"
            app.view_functions[endpoint] = failed_is_424(app.view_functions[endpoint])
