"""Admin CLI: organizations, API keys and tables, against whatever the settings point at.

    python -m chalicelib.cli org create --name NAME [--parent ID] [--balance N]
    python -m chalicelib.cli key create --org ID [--json]
    python -m chalicelib.cli key revoke --key-prefix PREFIX
    python -m chalicelib.cli tables create
    python -m chalicelib.cli eval run suite.yaml --assistant-id ID [--base-url URL] [--api-key KEY]
        [--junit out.xml] [--concurrency N] [--repeat N]      (docs/evals.md; exit 1 when a scenario fails)
    python -m chalicelib.cli eval schema                       (JSON schema of suite files)

Locally set ``AWS_ENDPOINT_URL`` (``make dev`` writes it to .local/dev.env); on AWS use normal
credentials plus the deployment's ``TABLE_PREFIX``/``TABLE_<NAME>`` and region. Output is JSON on
stdout; errors go to stderr with exit code 1 (not found) or 2 (usage).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _print(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def _fail(message: str, code: int = 1) -> int:
    sys.stderr.write(f"error: {message}\n")
    return code


def _org_dict(org: Any) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "parent_org_id": org.parent_org_id,
            "minutes_balance": org.minutes_balance, "created_at": org.created_at}


def cmd_org_create(args: argparse.Namespace) -> int:
    from chalicelib.models.common import is_uuid
    from chalicelib.services import orgs

    name = args.name.strip()
    if not name or len(name) > 200:
        return _fail("--name must be 1 to 200 characters", 2)
    if args.parent is not None:
        if not is_uuid(args.parent) or orgs.repo().get(args.parent.lower()) is None:
            return _fail(f"parent organization {args.parent} not found")
    org, key = orgs.create_org(name, args.parent.lower() if args.parent else None, args.balance)
    _print({"org": _org_dict(org), "api_key": key})
    return 0


def cmd_key_create(args: argparse.Namespace) -> int:
    from chalicelib.models.common import is_uuid
    from chalicelib.services import auth, orgs

    if not is_uuid(args.org) or orgs.repo().get(args.org.lower()) is None:
        return _fail(f"organization {args.org} not found")
    key, record = auth.issue_key(args.org.lower())
    if args.json:
        _print({"org_id": record.org_id, "api_key": key, "key_prefix": record.key_prefix,
                "created_at": record.created_at})
    else:
        sys.stdout.write(key + "\n")
    return 0


def cmd_key_revoke(args: argparse.Namespace) -> int:
    from chalicelib.services import auth

    prefix = args.key_prefix.strip()
    if len(prefix) < len(auth.KEY_PREFIX) + 4:
        return _fail(f"--key-prefix must be at least {len(auth.KEY_PREFIX) + 4} characters "
                     f"(the key's first {auth.PREFIX_LENGTH} characters are best)", 2)
    revoked = auth.revoke_by_prefix(prefix)
    if not revoked:
        return _fail(f"no key starts with {prefix}")
    _print({"revoked": [{"key_prefix": k.key_prefix, "org_id": k.org_id} for k in revoked]})
    return 0


def cmd_tables_create(args: argparse.Namespace) -> int:
    from chalicelib.storage.tables import create_tables

    _print({"created": create_tables(wait=args.wait)})
    return 0


def cmd_eval_run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from chalicelib.eval_cli import EvalCliError, run_suite

    base = args.base_url or os.environ.get("BASE_URL")
    key = args.api_key or os.environ.get(args.api_key_env)
    if not base or not key:
        return _fail(f"--base-url/BASE_URL and --api-key/{args.api_key_env} are required", 2)
    try:
        return run_suite(Path(args.suite), assistant_id=args.assistant_id, base_url=base, api_key=key,
                         junit_path=Path(args.junit) if args.junit else None, concurrency=args.concurrency,
                         repeat=args.repeat, timeout=args.timeout, poll=args.poll)
    except EvalCliError as exc:
        return _fail(str(exc), 2)


def cmd_eval_schema(args: argparse.Namespace) -> int:
    from chalicelib.eval_cli import suite_file_schema

    _print(suite_file_schema())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=(__doc__ or "").splitlines()[0])
    groups = parser.add_subparsers(dest="group", required=True)

    org = groups.add_parser("org", help="organizations").add_subparsers(dest="action", required=True)
    p = org.add_parser("create", help="create an organization and its first API key (shown once)")
    p.add_argument("--name", required=True)
    p.add_argument("--parent", help="parent organization id (makes a child org)")
    p.add_argument("--balance", type=float, default=None, help="initial minutes balance")
    p.set_defaults(func=cmd_org_create)

    key = groups.add_parser("key", help="API keys").add_subparsers(dest="action", required=True)
    p = key.add_parser("create", help="issue another key for an organization (printed once)")
    p.add_argument("--org", required=True)
    p.add_argument("--json", action="store_true", help="print JSON instead of the bare key")
    p.set_defaults(func=cmd_key_create)
    p = key.add_parser("revoke", help="revoke the key(s) starting with a prefix")
    p.add_argument("--key-prefix", required=True)
    p.set_defaults(func=cmd_key_revoke)

    tables = groups.add_parser("tables", help="DynamoDB tables").add_subparsers(dest="action", required=True)
    p = tables.add_parser("create", help="create every missing table")
    p.add_argument("--wait", action="store_true", help="wait until the tables are ACTIVE (AWS)")
    p.set_defaults(func=cmd_tables_create)

    ev = groups.add_parser("eval", help="test suites (evals)").add_subparsers(dest="action", required=True)
    p = ev.add_parser("run", help="create or update a suite from a YAML/JSON file, run it, report")
    p.add_argument("suite", help="suite file (.yaml, .yml or .json)")
    p.add_argument("--assistant-id", help="the assistant to test (else the file's assistant_id)")
    p.add_argument("--base-url", help="API base URL ending in /api/v1 (default: $BASE_URL)")
    p.add_argument("--api-key", help="API key (default: the variable named by --api-key-env)")
    p.add_argument("--api-key-env", default="API_KEY", help="variable holding the API key (default API_KEY)")
    p.add_argument("--junit", help="write JUnit XML here")
    p.add_argument("--concurrency", type=int, help="scenario calls at once (API default 3)")
    p.add_argument("--repeat", type=int, help="attempts per scenario (pass rate)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the run (default 1800)")
    p.add_argument("--poll", type=float, default=2, help="seconds between polls (default 2)")
    p.set_defaults(func=cmd_eval_run)
    p = ev.add_parser("schema", help="print the JSON schema of suite files")
    p.set_defaults(func=cmd_eval_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
