from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.task import Task
from ...models.task_retry import TaskRetry
from ...types import UNSET, Response, Unset


def _get_kwargs(
    task_id: str,
    *,
    body: TaskRetry | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tasks/{task_id}/retry".format(
            task_id=quote(str(task_id), safe=""),
        ),
    }

    if not isinstance(body, Unset):
        _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorResponse | Task | None:
    if response.status_code == 200:
        response_200 = Task.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorResponse.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorResponse.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorResponse.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = ErrorResponse.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorResponse.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorResponse.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = ErrorResponse.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = ErrorResponse.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorResponse.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ErrorResponse.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorResponse | Task]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: TaskRetry | Unset = UNSET,
) -> Response[ErrorResponse | Task]:
    """Run a failed or cancelled task again

     Queues a failed or cancelled task again as a new attempt (`attempt` + 1): its failure, exit code and
    progress are cleared, and the earlier attempt stays readable with `?attempt=N` on the task's logs,
    artifacts and run identity, and in its `attempts`. The owner or an admin may retry; a task that is
    not
    failed or cancelled is 409. A manual retry counts as one of the task's retries (`retry_count`), so
    it
    may leave no automatic retries for later failures.

    A task's secret values are erased when it ends (only their names stay, in `secret_names`), so the
    retry of a task that had secrets takes them again in `secrets`; without every one of them it is 409
    naming the missing ones (`details.missing_secrets`). A Jupyter service gets a new token instead.

    Args:
        task_id (str): An opaque identifier.
        body (TaskRetry | Unset): What a retry may give again; all optional.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Task]
    """

    kwargs = _get_kwargs(
        task_id=task_id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: TaskRetry | Unset = UNSET,
) -> ErrorResponse | Task | None:
    """Run a failed or cancelled task again

     Queues a failed or cancelled task again as a new attempt (`attempt` + 1): its failure, exit code and
    progress are cleared, and the earlier attempt stays readable with `?attempt=N` on the task's logs,
    artifacts and run identity, and in its `attempts`. The owner or an admin may retry; a task that is
    not
    failed or cancelled is 409. A manual retry counts as one of the task's retries (`retry_count`), so
    it
    may leave no automatic retries for later failures.

    A task's secret values are erased when it ends (only their names stay, in `secret_names`), so the
    retry of a task that had secrets takes them again in `secrets`; without every one of them it is 409
    naming the missing ones (`details.missing_secrets`). A Jupyter service gets a new token instead.

    Args:
        task_id (str): An opaque identifier.
        body (TaskRetry | Unset): What a retry may give again; all optional.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Task
    """

    return sync_detailed(
        task_id=task_id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: TaskRetry | Unset = UNSET,
) -> Response[ErrorResponse | Task]:
    """Run a failed or cancelled task again

     Queues a failed or cancelled task again as a new attempt (`attempt` + 1): its failure, exit code and
    progress are cleared, and the earlier attempt stays readable with `?attempt=N` on the task's logs,
    artifacts and run identity, and in its `attempts`. The owner or an admin may retry; a task that is
    not
    failed or cancelled is 409. A manual retry counts as one of the task's retries (`retry_count`), so
    it
    may leave no automatic retries for later failures.

    A task's secret values are erased when it ends (only their names stay, in `secret_names`), so the
    retry of a task that had secrets takes them again in `secrets`; without every one of them it is 409
    naming the missing ones (`details.missing_secrets`). A Jupyter service gets a new token instead.

    Args:
        task_id (str): An opaque identifier.
        body (TaskRetry | Unset): What a retry may give again; all optional.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Task]
    """

    kwargs = _get_kwargs(
        task_id=task_id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    task_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: TaskRetry | Unset = UNSET,
) -> ErrorResponse | Task | None:
    """Run a failed or cancelled task again

     Queues a failed or cancelled task again as a new attempt (`attempt` + 1): its failure, exit code and
    progress are cleared, and the earlier attempt stays readable with `?attempt=N` on the task's logs,
    artifacts and run identity, and in its `attempts`. The owner or an admin may retry; a task that is
    not
    failed or cancelled is 409. A manual retry counts as one of the task's retries (`retry_count`), so
    it
    may leave no automatic retries for later failures.

    A task's secret values are erased when it ends (only their names stay, in `secret_names`), so the
    retry of a task that had secrets takes them again in `secrets`; without every one of them it is 409
    naming the missing ones (`details.missing_secrets`). A Jupyter service gets a new token instead.

    Args:
        task_id (str): An opaque identifier.
        body (TaskRetry | Unset): What a retry may give again; all optional.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Task
    """

    return (
        await asyncio_detailed(
            task_id=task_id,
            client=client,
            body=body,
        )
    ).parsed
