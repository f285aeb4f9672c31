"""What the client commands of the `runplane` CLI share: where to connect, the SDK client, one-line errors,
and output (rich tables for people, `--json` for scripts).

Where to connect is decided in this order: `--api`/`--key`, then `RUNPLANE_API_URL`/`RUNPLANE_API_KEY`, then a
profile of the config file (`runplane login` writes it; `--profile`/`RUNPLANE_PROFILE`, default `default`),
then `http://127.0.0.1:9101` (what `make run` serves) for the URL. Every request goes through the generated
SDK (`runplane_client`); long-lived answers (SSE, followed logs) are streamed with the SDK's own httpx
client.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import httpx
import typer
from rich.console import Console
from runplane_client import AuthenticatedClient
from runplane_client.models import ErrorResponse
from runplane_client.types import Response

DEFAULT_API_URL = "http://127.0.0.1:9101"
DEFAULT_PROFILE = "default"
CONFIG_FILE_NAME = "config.toml"

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

ApiOption = Annotated[
    str | None,
    typer.Option(
        "--api", envvar="RUNPLANE_API_URL", help="The API's URL (default: the profile's, or 127.0.0.1:9101)."
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key", envvar="RUNPLANE_API_KEY", help="The API key (better from the environment or `login`)."
    ),
]
ProfileOption = Annotated[
    str, typer.Option("--profile", envvar="RUNPLANE_PROFILE", help="The config file's profile to use.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer (for scripts).")]

# Off a terminal (pipes, files, CI) rich would cut tables at 80 columns: give them room instead.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
stdout = Console(soft_wrap=True, width=_WIDTH)
stderr = Console(stderr=True, soft_wrap=True, width=_WIDTH)


class CliError(Exception):
    """A failure shown as one line: the message, with the API's error code and trace id when it gave them."""

    def __init__(
        self, message: str, *, code: str | None = None, trace_id: str | None = None, exit_code: int = 1
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.trace_id = trace_id
        self.exit_code = exit_code

    def line(self) -> str:
        extra = [part for part in (self.code, self.trace_id and f"trace_id {self.trace_id}") if part]
        return f"error: {self.message}" + (f" ({', '.join(extra)})" if extra else "")


def handled(command: Callable[P, R]) -> Callable[P, R]:
    """Wraps a command so that any failure ends it with one line on stderr and exit status 1 (never a
    traceback; `RUNPLANE_DEBUG=1` shows it). typer reads the wrapped signature (functools.wraps)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter, KeyboardInterrupt):
            raise
        except CliError as exc:
            stderr.print(exc.line(), markup=False, highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            if os.environ.get("RUNPLANE_DEBUG"):
                raise
            stderr.print(f"error: {type(exc).__name__}: {exc}", markup=False, highlight=False)
            raise typer.Exit(1) from None

    return run


# -- the config file ------------------------------------------------------------------------------------


def config_path() -> Path:
    """`$RUNPLANE_CONFIG`, or config.toml in the user's config dir (`~/.config/runplane` on Linux)."""
    override = os.environ.get("RUNPLANE_CONFIG")
    if override:
        return Path(override)
    return Path(typer.get_app_dir("runplane")) / CONFIG_FILE_NAME


def read_profiles(path: Path) -> dict[str, dict[str, str]]:
    """The `[profiles.NAME]` tables of the config file (empty when there is none). Raises CliError for a
    file that is not TOML."""
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path} is not valid TOML: {exc}") from None
    profiles = data.get("profiles", {})
    return {
        str(name): {str(k): str(v) for k, v in table.items()}
        for name, table in profiles.items()
        if isinstance(table, dict)
    }


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def write_profile(path: Path, name: str, api_url: str, api_key: str) -> None:
    """Adds or replaces one profile; the file is created with mode 0600 (it holds keys) in a 0700 dir."""
    profiles = read_profiles(path)
    profiles[name] = {"api_url": api_url, "api_key": api_key}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = ["# runplane CLI profiles (written by `runplane login`; holds API keys: keep it private)", ""]
    for profile, table in sorted(profiles.items()):
        lines.append(f"[profiles.{_toml_string(profile)}]")
        lines += [f"{key} = {_toml_string(value)}" for key, value in sorted(table.items())]
        lines.append("")
    temp = path.with_name(path.name + ".tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(lines))
    os.chmod(temp, 0o600)
    temp.replace(path)


# -- connecting -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a command connects: the API's base URL and the key to send (None: no key found)."""

    api_url: str
    api_key: str | None


def resolve_target(api: str | None, key: str | None, profile: str) -> Target:
    """Flags/environment first (typer already merged them), then the profile, then the default URL."""
    table = read_profiles(config_path()).get(profile, {})
    # A profile asked for by name must exist, even when the URL and key come from elsewhere: a typo would
    # otherwise go unnoticed while the command talks to another server.
    if profile != DEFAULT_PROFILE and not table:
        raise CliError(
            f"no profile {profile!r} in {config_path()} (run `runplane login --profile {profile}`)"
        )
    api_url = (api or table.get("api_url") or DEFAULT_API_URL).rstrip("/")
    return Target(api_url, key or table.get("api_key"))


class Api:
    """The SDK client for one command, with the call wrapper that turns error answers into CliError."""

    def __init__(self, target: Target) -> None:
        if not target.api_key:
            raise CliError(
                "no API key: pass --key, set RUNPLANE_API_KEY, or run `runplane login`", code="UNAUTHORIZED"
            )
        self.url = target.api_url
        self.client = AuthenticatedClient(
            base_url=target.api_url,
            token=target.api_key,
            prefix="",
            auth_header_name="X-API-Key",
            timeout=httpx.Timeout(60.0, connect=10.0),
            headers={"User-Agent": "runplane-cli"},
        )

    def call(self, operation: Callable[..., Response[Any]], *args: Any, **kwargs: Any) -> Any:
        """Runs one SDK operation (its `sync_detailed`) and returns the parsed success answer; raises
        CliError with the uniform error body's message, code and trace id otherwise."""
        with transport_errors(self.url):
            response = operation(*args, client=self.client, **kwargs)
        raise_for_error(response)
        parsed = response.parsed
        if parsed is not None and response.content:
            _remember_answer(parsed, response.content)
        return parsed

    def close(self) -> None:
        self.client.get_httpx_client().close()


@contextmanager
def transport_errors(url: str) -> Iterator[None]:
    """httpx's connection failures as one line that names the URL."""
    try:
        yield
    except httpx.TimeoutException:
        raise CliError(f"the API at {url} did not answer in time", code="TIMEOUT") from None
    except httpx.TransportError as exc:
        raise CliError(f"cannot reach the API at {url}: {exc}", code="CONNECTION_ERROR") from None


def raise_for_error(response: Response[Any]) -> None:
    if response.status_code < 400:
        return
    parsed = response.parsed
    if isinstance(parsed, ErrorResponse):
        raise CliError(parsed.error, code=str(parsed.code), trace_id=parsed.trace_id)
    raise error_from_body(response.status_code, response.content, response.headers)


def error_from_body(status: int, content: bytes, headers: Any) -> CliError:
    """A CliError from a raw error answer (one the SDK did not parse, or a streamed one)."""
    trace = headers.get("X-Trace-Id") if headers is not None else None
    try:
        body = json.loads(content)
        return CliError(
            str(body["error"]),
            code=str(body.get("code") or f"HTTP_{status}"),
            trace_id=body.get("trace_id") or trace,
        )
    except (ValueError, KeyError, TypeError):
        return CliError(f"the API answered HTTP {status}", code=f"HTTP_{status}", trace_id=trace)


@contextmanager
def connect(api: str | None, key: str | None, profile: str) -> Iterator[Api]:
    found = Api(resolve_target(api, key, profile))
    try:
        yield found
    finally:
        found.close()


# -- output ---------------------------------------------------------------------------------------------


# The bytes each SDK model was parsed from, by the model's id (the model is kept alive beside them, so the
# id cannot be reused): `--json` prints what the API answered, not the SDK's re-serialisation of it (which
# writes timestamps as `+00:00`, adds `null` for absent optional fields and drops fields it does not know).
_ANSWERS: dict[int, tuple[Any, bytes]] = {}


_MAX_ANSWERS = 256  # a command that polls (watch) keeps only the latest


def _remember_answer(parsed: Any, content: bytes) -> None:
    _ANSWERS[id(parsed)] = (parsed, content)
    while len(_ANSWERS) > _MAX_ANSWERS:
        del _ANSWERS[next(iter(_ANSWERS))]


def answer_json(value: Any) -> Any:
    """The JSON the API answered for ``value`` (a model `Api.call` returned, or a list of them); plain data
    is returned as it is. A model from elsewhere falls back to the SDK's `to_dict()`."""
    if isinstance(value, list):
        return [answer_json(item) for item in value]
    remembered = _ANSWERS.get(id(value))
    if remembered is not None and remembered[0] is value:
        return json.loads(remembered[1])
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def print_json(value: Any) -> None:
    """``value`` as the API answered it, indented, keys sorted (see :func:`answer_json`)."""
    sys.stdout.write(json.dumps(answer_json(value), indent=2, sort_keys=True) + "\n")


def parse_pairs(pairs: list[str], option: str, *, typed: bool = False) -> dict[str, Any]:
    """`K=V` options as a dict; with `typed`, values that read as JSON numbers/booleans become those."""
    found: dict[str, Any] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise typer.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint=option)
        if typed:
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
            found[name] = parsed if isinstance(parsed, int | float | bool) else value
        else:
            found[name] = value
    return found
