"""``async_twin``: the ``a``-prefixed async version of a sync public function."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async

_Result = TypeVar("_Result")
_Params = ParamSpec("_Params")


def async_twin(func: Callable[_Params, _Result]) -> Callable[_Params, Awaitable[_Result]]:
    """``func`` as a coroutine function named ``a<name>``, run in a thread by ``sync_to_async``."""

    @wraps(func)
    async def twin(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        return await sync_to_async(func)(*args, **kwargs)

    twin.__name__ = twin.__qualname__ = f"a{func.__name__}"
    twin.__doc__ = f"Async version of ``{func.__name__}()``."
    return twin
