"""Run the local OIDC issuer: ``python -m apex_core.local.issuer --state-dir DIR --port N``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from apex_core.local.issuer.app import create_app
from apex_core.local.issuer.oauth import IssuerConfig
from apex_core.local.issuer.state import IssuerState


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m apex_core.local.issuer", description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--issuer-url", help="public base URL; default http://HOST:PORT")
    parser.add_argument("--token-lifetime", type=int, default=3600)
    parser.add_argument("--device-code-lifetime", type=int, default=600)
    parser.add_argument("--device-interval", type=int, default=1)
    parser.add_argument("--audience", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state = IssuerState.load_or_create(args.state_dir)
    config = IssuerConfig(
        issuer_url=(args.issuer_url or f"http://{args.host}:{args.port}").rstrip("/"),
        token_lifetime=args.token_lifetime,
        device_code_lifetime=args.device_code_lifetime,
        device_interval=args.device_interval,
        **({"audience": args.audience} if args.audience else {}),
    )
    # access_log off: request lines carry no tokens, but keep the log about the issuer itself
    uvicorn.run(create_app(state, config), host=args.host, port=args.port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
