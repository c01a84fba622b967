"""moto Step Functions running our ASL files, with Lambda invocations routed to the real handlers.

Used by the tests (in-process ``mock_aws``) and by ``make dev`` (``ThreadedMotoServer``): the same
``chalicelib/workflows/asl/*.asl.json`` that infra deploys, with each ``${FunctionArn_<name>}``
placeholder replaced by the ARN of a moto Lambda function called ``<name>``. moto's Docker-less
Lambda backend (``lambda.use_docker: false``) would echo the payload; ``install_router`` patches
its ``invoke`` so the call runs the Chalice ``@bp.lambda_function(name=<name>)`` handler instead.
A handler's exception becomes a Lambda function error whose type is the exception class name,
which is what the state machines' Retry/Catch match.

Step Functions must be told to execute (``stepfunctions.execute_state_machine: true``); in server
mode moto's interpreter calls Lambda at ``http://localhost:$MOTO_PORT``, so set ``MOTO_PORT``.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.stack import Component, Stack

if TYPE_CHECKING:
    from moto.core.config import DefaultConfig

ASL_DIR = Path(__file__).resolve().parents[1] / "chalicelib" / "workflows" / "asl"
# state machine file stem -> settings environment variable naming its ARN
MACHINES = {"call_analysis": "CALL_ANALYSIS_STATE_MACHINE_ARN", "campaign_run": "CAMPAIGN_STATE_MACHINE_ARN",
            "eval_run": "EVAL_STATE_MACHINE_ARN"}
PLACEHOLDER = re.compile(r"\$\{FunctionArn_([A-Za-z0-9_]+)\}")
MOTO_CONFIG: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}

_lock = threading.Lock()
_handlers: dict[str, Callable[[dict, Any], Any]] = {}
# Test hooks run after a handler returned, before its result reaches the state machine:
# hook(name, event, result) may raise to simulate a Lambda that did the work but died before
# answering (its exception is what the state machine sees).
after_hooks: list[Callable[[str, dict, Any], None]] = []
invocations: list[str] = []  # handler names in call order (diagnostics and tests)
_original_invoke: Any = None


class LambdaContext:
    """Enough of the Lambda context object for Powertools and our handlers."""

    def __init__(self, name: str):
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def workflow_handlers(app: Any = None) -> dict[str, Callable[[dict, Any], Any]]:
    """The Chalice app's pure Lambda functions by name (what the ASL placeholders name)."""
    if app is None:
        from app import app as chalice_app

        app = chalice_app
    return {fn.name: fn for fn in app.pure_lambda_functions}


def install_router(handlers: dict[str, Callable[[dict, Any], Any]] | None = None) -> None:
    """Route moto's Docker-less Lambda ``invoke`` to our handlers (idempotent)."""
    global _original_invoke
    from moto.awslambda_simple.models import LambdaSimpleBackend

    with _lock:
        _handlers.update(handlers if handlers is not None else workflow_handlers())
        if _original_invoke is None:
            _original_invoke = LambdaSimpleBackend.invoke
            LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]
            _patch_send_task_success()
            serialize_dynamodb()


_ddb_lock = threading.RLock()
_ddb_patched = False


def serialize_dynamodb() -> None:
    """moto applies a conditional write or an ADD as a Python read-modify-write with no lock, so two
    threads (two task handlers, a handler and a Twilio callback) can both pass a condition or lose an
    increment. DynamoDB serializes writes per item and applies a transaction atomically; one lock
    around moto's item operations gives the local stack the same guarantees the code relies on."""
    global _ddb_patched
    from moto.dynamodb.models import DynamoDBBackend

    if _ddb_patched:
        return
    DynamoDBBackend.transact_write_items = _item_backup_transactions(DynamoDBBackend.transact_write_items)
    for name in ("get_item", "query", "put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _ddb_lock:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)
    _ddb_patched = True


class _NoTableCopy:
    """Stands in for the ``copy`` module inside moto's transact_write_items (see below)."""

    def __init__(self, table_type: type):
        import copy

        self._copy, self._table = copy, table_type

    def deepcopy(self, obj: Any, memo: Any = None) -> Any:
        return obj if isinstance(obj, self._table) else self._copy.deepcopy(obj, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._copy, name)


def _item_backup_transactions(original: Any) -> Any:
    """moto deep-copies every table a transaction touches (for rollback), so each transaction costs
    O(table size) and a 1,000-lead campaign slows to a crawl. Back up only the items the
    transaction names instead, and restore those when it is cancelled (under the global lock)."""
    import copy

    import moto.dynamodb.models as ddb_models
    from moto.dynamodb.models.table import Table

    shim = _NoTableCopy(Table)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            if "Item" in op:
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op.get("Key") or {}
            try:
                current = self.get_item(table.name, key)
            except Exception:  # noqa: BLE001, S112 - a malformed key: moto raises the proper error below
                continue
            backups.append((table.name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
        real = ddb_models.copy  # pyright: ignore[reportPrivateImportUsage] - the patch target is moto's own `copy`
        ddb_models.copy = shim  # type: ignore[assignment]
        try:
            return original(self, transact_items)
        except Exception:
            for table_name, key, attrs in backups:
                if attrs is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attrs)
            raise
        finally:
            ddb_models.copy = real  # type: ignore[assignment]

    return transact_write_items


def _patch_send_task_success() -> None:
    """moto 5.2.5 bug: SendTaskSuccess walks every RUNNING execution and crashes (AttributeError)
    on one whose worker has not built its environment yet (an execution started a moment ago,
    e.g. the call analysis started just before the campaign's token is released). Skip those."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerTimeout,
        CallbackNotifyConsumerError,
        CallbackOutcomeSuccess,
    )
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    def send_task_success(self: Any, task_token: str, outcome: str) -> None:
        from moto.stepfunctions.parser.api import InvalidToken, TaskDoesNotExist, TaskTimedOut

        result = CallbackOutcomeSuccess(callback_id=task_token, output=outcome)
        for execution in self._get_executions(ExecutionStatus.RUNNING):
            env = getattr(getattr(execution, "exec_worker", None), "env", None)
            if env is None:
                continue
            try:
                if env.callback_pool_manager.notify(callback_id=task_token, outcome=result):
                    return
            except CallbackNotifyConsumerError as exc:
                # moto's own copy raises these two without the message they require (a TypeError instead).
                raise (TaskTimedOut("Task Timed Out") if isinstance(exc, CallbackConsumerTimeout)
                       else TaskDoesNotExist("Task Does Not Exist")) from None
        raise InvalidToken()

    StepFunctionsParserBackend.send_task_success = send_task_success  # type: ignore[method-assign]


def _invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any,
            response_headers: Any) -> bytes:
    name = function_name.split(":function:")[-1].split(":")[0]
    handler = _handlers.get(name)
    if handler is None:
        return _original_invoke(self, function_name, qualifier, body, headers, response_headers)
    invocations.append(name)
    event = json.loads(body or "{}")
    try:
        result = handler(event, LambdaContext(name))
        for hook in list(after_hooks):
            hook(name, event, result)
    except Exception as exc:  # noqa: BLE001 - becomes the Lambda function error, as on AWS
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__,
                           "stackTrace": []}).encode()
    return json.dumps(result).encode()


def render(path: Path, arns: dict[str, str]) -> str:
    """The ASL text with every ``${FunctionArn_<name>}`` replaced (an unknown name is an error)."""
    text = path.read_text()

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in arns:
            raise KeyError(f"{path.name}: no Lambda function named {m.group(1)}")
        return arns[m.group(1)]

    return PLACEHOLDER.sub(sub, text)


def function_names() -> list[str]:
    names: set[str] = set()
    for path in ASL_DIR.glob("*.asl.json"):
        names.update(PLACEHOLDER.findall(path.read_text()))
    return sorted(names)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def deploy(*, endpoint_url: str | None = None, region: str = "us-east-1", prefix: str = "voice",
           set_env: bool = True) -> dict[str, str]:
    """Create the Lambda functions and every state machine in moto; returns {stem: state machine ARN}.

    With ``set_env`` the ARNs are exported as CALL_ANALYSIS_STATE_MACHINE_ARN /
    CAMPAIGN_STATE_MACHINE_ARN / EVAL_STATE_MACHINE_ARN (and settings are re-read) so the app starts
    executions there.
    """
    import boto3

    kw: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kw["endpoint_url"] = endpoint_url
    iam, lam, sfn = boto3.client("iam", **kw), boto3.client("lambda", **kw), boto3.client("stepfunctions", **kw)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                "Principal": {"Service": ["lambda.amazonaws.com",
                                                                                          "states.amazonaws.com"]}}]})
    try:
        role = iam.create_role(RoleName=f"{prefix}-workflows", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=f"{prefix}-workflows")["Role"]["Arn"]
    arns: dict[str, str] = {}
    code = _zip()
    for name in function_names():
        try:
            arns[name] = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                             Handler="handler.handler", Code={"ZipFile": code})["FunctionArn"]
        except lam.exceptions.ResourceConflictException:
            arns[name] = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    machines: dict[str, str] = {}
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for stem in MACHINES:
        name = f"{prefix}-{stem.replace('_', '-')}"
        definition = render(ASL_DIR / f"{stem}.asl.json", arns)
        if name in existing:
            sfn.update_state_machine(stateMachineArn=existing[name], definition=definition, roleArn=role)
            machines[stem] = existing[name]
        else:
            machines[stem] = sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"]
    if set_env:
        for stem, env in MACHINES.items():
            os.environ[env] = machines[stem]
        from chalicelib.settings import reset_settings

        reset_settings()
    return machines


def enable_server_mode(port: int) -> None:
    """For a ThreadedMotoServer in this process: execute state machines, no Docker, MOTO_PORT."""
    from moto.core.config import default_user_config

    os.environ["MOTO_PORT"] = str(port)
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    default_user_config.setdefault("lambda", {})["use_docker"] = False


def setup_dev(endpoint_url: str, port: int) -> dict[str, str]:
    """``make dev``: the moto server runs in this process; route Lambda to the handlers and deploy."""
    enable_server_mode(port)
    install_router()
    return deploy(endpoint_url=endpoint_url)


def workflows_component() -> Component:
    """The `make dev` component: ``register_component(workflows_component(), after="tables")``.

    Needs the ``moto`` component (ThreadedMotoServer in this process, MOTO_PORT and AWS_ENDPOINT_URL
    set); exports the two state machine ARNs for the API and the media service."""

    def start(stack: Stack) -> None:
        port = int(os.environ["MOTO_PORT"])
        machines = setup_dev(stack.values["moto_url"], port)
        for stem, env in MACHINES.items():
            stack.dev_env[env] = machines[stem]
        print(f"Workflows:         {', '.join(sorted(machines))} (moto Step Functions, real task handlers)",
              flush=True)

    return Component("workflows", start)
