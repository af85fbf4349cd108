"""INIT, then the invoke loop: the life of one Python execution environment.

With SnapStart, the sandbox passes main() a `snapshot` callable: after INIT the loop runs the user's
before-snapshot hooks, snapshots, and each restored copy runs the after-restore hooks, then serves.

Exit status: 1 after reporting an init or restore error, and when the Runtime API fails or answers
a status the runtime cannot go on from (the message goes to stderr). While it serves invokes the
process never exits on its own.
"""

from __future__ import annotations

import contextlib
import decimal
import json
import os
import sys
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, NoReturn

from . import _fbx_snapshot_hooks as snapshot_hooks
from ._fbx_client import RuntimeApiClient, RuntimeApiError
from ._fbx_context import FunctionInfo, LambdaContext
from ._fbx_faults import MARSHAL_ERROR, UNHANDLED, UNMARSHAL_ERROR, ErrorReport, FaultError, report_exception
from ._fbx_handler import Handler, load_handler
from ._fbx_logging import FunctionLogs, flush_stdio, line_buffer_stdio

# AWS's Python runtimes ship snapshot_restore_py; user code imports our implementation under its name
# (an alias here also wins over a copy bundled with the function: the API is the same).
sys.modules["snapshot_restore_py"] = snapshot_hooks

_TRACE_ID_ENV = "_X_AMZN_TRACE_ID"
_INIT_TYPE_ENV = "AWS_LAMBDA_INITIALIZATION_TYPE"
_JSON = "application/json"
# A handler returning bytes chooses its own payload; AWS passes it through with this content type.
_RAW = "application/unknown"


def main(snapshot: Callable[[], None] | None = None) -> int:
    """Run the environment. `snapshot` (SnapStart templates only) returns once in each restored copy."""
    environ = os.environ
    address = environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        sys.stderr.write("firebox runtime: AWS_LAMBDA_RUNTIME_API is not set\n")
        return 1
    line_buffer_stdio()
    # The process sandbox backend has no /opt mount, and says where the layers are instead.
    _put_code_on_path(environ.get("LAMBDA_TASK_ROOT") or os.getcwd(), environ.get("FIREBOX_OPT_ROOT") or "/opt")
    client = RuntimeApiClient(address)
    logs = FunctionLogs(environ)
    try:
        handler = _init(client, logs, environ.get("_HANDLER", ""))
        if handler is None:
            return 1
        if (
            snapshot is not None
            and environ.get(_INIT_TYPE_ENV) == "snap-start"
            and not _snapshot_and_restore(client, logs, snapshot)
        ):
            return 1  # a before-snapshot or after-restore hook failed, and was reported
        _serve(client, logs, handler, FunctionInfo.from_environ(environ), environ)
    except RuntimeApiError as exc:
        flush_stdio()
        sys.stderr.write(f"firebox runtime: {exc}\n")
        return 1
    finally:
        client.close()


def _put_code_on_path(task_root: str, opt_root: str) -> None:
    # AWS's order: the function's own code, then layers (site-packages layout first), then the runtime's.
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    sys.path[0:0] = [task_root, f"{opt_root}/python/lib/{version}/site-packages", f"{opt_root}/python"]


def _init(client: RuntimeApiClient, logs: FunctionLogs, spec: str) -> Handler | None:
    """Load the handler, or report why not to /init/error and return None."""
    try:
        return load_handler(spec)
    except FaultError as fault:
        report = fault.report
    except Exception as exc:  # whatever the module raised while it was imported is the init error
        report = report_exception(exc)
    _report_outside_invoke(logs, report, client.post_init_error)
    return None


def _snapshot_and_restore(client: RuntimeApiClient, logs: FunctionLogs, snapshot: Callable[[], None]) -> bool:
    """Run the before-snapshot hooks, snapshot, then (in each restored copy) the after-restore hooks.

    Returns in each restored copy: True when it may serve, False once a failed hook has been reported.
    """
    failure = _run_hooks(reversed(snapshot_hooks.get_before_snapshot()))  # AWS runs the last registered first
    if failure is not None:
        _report_outside_invoke(logs, failure, client.post_init_error)
        return False
    client.restore_next()
    client.close()  # the copies must not share the template's socket; each opens its own on first use
    flush_stdio()
    snapshot()
    _reseed_random()
    failure = _run_hooks(snapshot_hooks.get_after_restore())
    if failure is not None:
        _report_outside_invoke(logs, failure, client.post_restore_error)
        return False
    return True


def _run_hooks(hooks: Iterable[snapshot_hooks.Hook]) -> ErrorReport | None:
    """Call each hook in turn; the first one to raise stops the rest and is described."""
    for func, args, kwargs in hooks:
        try:
            func(*args, **kwargs)
        except Exception as exc:  # the user's failure, reported as AWS reports it
            return report_exception(exc)
    return None


def _reseed_random() -> None:
    """Each restored copy starts with the template's generator states: give them fresh seeds, or every
    copy would draw the same "random" numbers. Only generators already imported need it."""
    if "random" in sys.modules:
        sys.modules["random"].seed()
    if "numpy.random" in sys.modules:
        # Best effort: an odd or broken numpy must not stop the copy from serving.
        with contextlib.suppress(Exception):
            sys.modules["numpy.random"].seed()  # numpy's legacy global generator


def _report_outside_invoke(logs: FunctionLogs, report: ErrorReport, post: Callable[[bytes, str], None]) -> None:
    """Log an init or restore failure, then post it (to /init/error or /restore/error)."""
    logs.log_error(report, "")
    flush_stdio()
    post(report.to_json(""), report.error_type)


def _serve(
    client: RuntimeApiClient,
    logs: FunctionLogs,
    handler: Handler,
    info: FunctionInfo,
    environ: MutableMapping[str, str],
) -> NoReturn:
    request_ids = logs.request_ids
    invocation = client.next_invocation()
    while True:
        request_id = invocation.request_id
        request_ids.request_id = request_id
        request_ids.tenant_id = invocation.tenant_id
        if invocation.trace_id is None:
            if _TRACE_ID_ENV in environ:
                del environ[_TRACE_ID_ENV]
        else:
            environ[_TRACE_ID_ENV] = invocation.trace_id
        try:
            context = LambdaContext(invocation, info)
            event = _decode_event(invocation.body)
            result = handler(event, context)
            payload, content_type = _encode_result(result)
        except FaultError as fault:
            report = fault.report
        except Exception as exc:  # the handler's own failure: reported to the caller, never fatal here
            report = report_exception(exc)
        else:
            flush_stdio()
            invocation = client.respond_and_next(request_id, payload, content_type)
            continue
        logs.log_error(report, request_id)
        flush_stdio()
        client.post_error(request_id, report.to_json(request_id), UNHANDLED)
        invocation = client.next_invocation()


def _decode_event(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise FaultError(UNMARSHAL_ERROR, f"Unable to unmarshal input: {exc}") from exc


def _encode_result(result: Any) -> tuple[bytes, str]:
    if isinstance(result, bytes):
        return result, _RAW
    try:
        return _ENCODER.encode(result).encode("utf-8"), _JSON
    except (TypeError, ValueError) as exc:  # ValueError: circular reference; UnicodeError: lone surrogate
        raise FaultError(MARSHAL_ERROR, f"Unable to marshal response: {exc}") from exc


class _ResultEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        # AWS's runtime serialises Decimal (what boto3 gives for DynamoDB numbers). json cannot write a
        # number verbatim, so whole-number decimals become int and the rest float.
        if isinstance(o, decimal.Decimal):
            exponent = o.as_tuple().exponent
            return int(o) if isinstance(exponent, int) and exponent >= 0 else float(o)
        return super().default(o)  # raises json's own TypeError, whose text AWS's message carries


# AWS's Python 3.12+ runtimes answer UTF-8; the older ones escape everything to ASCII.
_ENCODER = _ResultEncoder(ensure_ascii=sys.version_info < (3, 12))
