"""connexion's handler call path with its decorators built once per operation instead of once per request.

connexion 3.3 (`connexion.apps.asynchronous.AsyncOperation.fn`) builds a `StarletteDecorator` on every
request, and that decorator's wrapper builds the parameter and response decorators again on every call:
`inspect.signature` of the handler (twice), two decorator objects and their closures, and the operation's
URI parser, for every request, although none of it depends on the request. The classes here keep
connexion's decorators and their behaviour exactly (the same parameter handling, response
serialisation and context lookups) and only keep what they build:

- `OnceStarletteDecorator` decorates the handler once and builds the operation's URI parser at the first
  request (it needs connexion's operation context), then only fetches the request per call;
- `OnceAsyncOperation` builds that decorator once per operation;
- `OnceAsyncApi` makes its operations so; `use_once_operations(app)` installs it on an `AsyncApp`
  before `add_api`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from connexion import AsyncApp
from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.context import receive, scope
from connexion.decorators import StarletteDecorator
from connexion.operations import AbstractOperation


class OnceStarletteDecorator(StarletteDecorator):
    """connexion's `StarletteDecorator` for one operation: the handler decorated once, the URI parser
    built once (at the first call, from connexion's operation context, which is this operation's)."""

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        decorated = self.decorate(function)
        parser: list[Any] = []

        @functools.wraps(function)
        async def wrapper(*_args: Any, **_kwargs: Any) -> Any:
            if not parser:
                parser.append(self.uri_parser)
            request = self.framework.get_request(uri_parser=parser[0], scope=scope, receive=receive)
            return await decorated(request)

        return wrapper


class OnceAsyncOperation(AsyncOperation):
    """connexion's `AsyncOperation` with its decorated handler built once."""

    @functools.cached_property
    def fn(self) -> Callable[..., Any]:
        decorator = OnceStarletteDecorator(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)
        return decorator(self._fn)


class OnceAsyncApi(AsyncApi):
    """connexion's `AsyncApi` whose operations are `OnceAsyncOperation`s."""

    def make_operation(self, operation: AbstractOperation) -> AsyncOperation:
        return OnceAsyncOperation.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


def use_once_operations(app: AsyncApp) -> None:
    """Makes the APIs `app` adds from now on build each operation's handler call path once."""
    app._middleware_app.api_cls = OnceAsyncApi
