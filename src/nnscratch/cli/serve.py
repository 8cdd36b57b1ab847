"""``nnscratch serve [MODEL]``: the draw-a-digit page and its JSON API on this machine.

Binds to loopback (127.0.0.1) unless told otherwise, and warns when it is told otherwise. The socket
is opened here, before the server starts, so a port in use is one clear line; ``--port 0`` picks a free
port and the URL printed says which. Ctrl-C stops the server cleanly (exit code 0).
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import socket
import sys
import threading
import webbrowser
from pathlib import Path

from nnscratch.cli import common
from nnscratch.errors import NNScratchError

#: Modules of the ``web`` extra (python-multipart imports as ``python_multipart``, formerly ``multipart``).
WEB_MODULES = (("fastapi",), ("uvicorn",), ("python_multipart", "multipart"))
WEB_EXTRA_HINT = 'pip install "nnscratch[web]"'


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535 (0: any free port), got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` verb."""
    parser = common.add_verb(
        subparsers,
        "serve",
        "draw digits in your browser and watch the network read them",
        "Serve the draw-a-digit page and its JSON API (schema at /openapi.json) on this machine. MNIST, for "
        "'show me a test digit' and 'Teach it', is looked for as --data-dir says, except that the server "
        "never downloads it (run 'nnscratch data fetch' once). Needs the web extra: "
        f"{WEB_EXTRA_HINT}.",
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        nargs="?",
        type=Path,
        default=None,
        help="model file written by 'nnscratch train --save', or a checkpoint directory (its last.npz) "
        "(default: the model shipped with nnscratch)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; anything else prints a warning)",
    )
    parser.add_argument(
        "--port", type=_port, default=8000, help="port to listen on; 0 picks a free one (default: 8000)"
    )
    parser.add_argument("--open", action="store_true", help="open the page in a web browser once it is up")
    common.add_data_dir_option(parser)
    parser.add_argument(
        "--corrections-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="where 'it was a ...' saves pictures, as DIR/<digit>/ (what 'nnscratch finetune' reads) "
        "(default: corrections/ in $XDG_DATA_HOME/nnscratch or ~/.local/share/nnscratch)",
    )
    parser.add_argument(
        "--models-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="where 'Teach it' saves fine-tuned models (default: models/ beside the default corrections)",
    )
    parser.set_defaults(handler=run)


def require_web_extra() -> None:
    """A one-line NNScratchError naming the extra when FastAPI, uvicorn or python-multipart is missing."""
    for names in WEB_MODULES:
        if not any(importlib.util.find_spec(name) is not None for name in names):
            raise NNScratchError(f"serve needs the web extra ({names[0]} is not installed): {WEB_EXTRA_HINT}")


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``, or a one-line NNScratchError saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise NNScratchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise NNScratchError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port (0: any free port)"
        ) from None
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    """Load the model, open the socket, serve until Ctrl-C."""
    require_web_extra()
    import uvicorn

    from nnscratch.web import create_app

    model = None if args.model is None else common.resolve_model(args.model)  # as evaluate/predict/report
    app = create_app(
        model, data_dir=args.data_dir, corrections_dir=args.corrections_dir, models_dir=args.models_dir
    )
    if not is_loopback(args.host):
        print(
            f"nnscratch serve: warning: listening on {args.host}, which is not a loopback address: anyone "
            "who can reach this machine can use the page and the API",
            file=sys.stderr,
        )
    sock = listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    model = app.state.holder.current
    print(f"nnscratch serve: {url} (model {model.path}); press Ctrl-C to stop", file=sys.stderr, flush=True)
    print(f"nnscratch serve: corrections go to {app.state.corrections.root}", file=sys.stderr, flush=True)
    opener = threading.Timer(0.5, webbrowser.open, args=(url,))
    if args.open:
        opener.start()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        opener.cancel()
        sock.close()
    print("nnscratch serve: stopped", file=sys.stderr, flush=True)
    return 0
