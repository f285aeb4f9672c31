from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.claim_request import ClaimRequest
from ...models.claim_result import ClaimResult
from ...models.error_response import ErrorResponse
from ...types import Response


def _get_kwargs(
    worker_id: str,
    *,
    body: ClaimRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/workers/{worker_id}/claim".format(
            worker_id=quote(str(worker_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ClaimResult | ErrorResponse | None:
    if response.status_code == 200:
        response_200 = ClaimResult.from_dict(response.json())

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
) -> Response[ClaimResult | ErrorResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    worker_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: ClaimRequest,
) -> Response[ClaimResult | ErrorResponse]:
    """Claim the next task

     Atomically assigns the queued task with the highest effective priority that fits the resources the
    worker has free (FIFO within a priority), or answers with no assignment. With `max_tasks` above 1 it
    assigns, in one transaction, as many tasks (best first) as fit together in what is free, up to
    `max_tasks`: all of them are in `assignments`, the first also in `assignment`. With `wait_seconds`
    above 0 and nothing to assign, the server holds the request (a long poll) until a task it can assign
    is queued or the wait ends, then answers as without a wait; the lease is renewed meanwhile. An
    offline worker (drained, or declared lost) gets 409, its message saying which.

    A claim may carry the reports of tasks that just ended (`reports`, at most 64, each task once): the
    server records them first, each exactly as the report operation would (the same checks, events,
    audit entries, retries and run.json), then claims, and answers each in `reports` (same order) with
    what the report operation would have answered: the task's `TaskReportReply`, or the status and
    error body of the 400, 404 or 409 it would have been. A report that fails does not fail the claim
    or the others. A claim that carries reports never waits (it answers as with `wait_seconds` 0), so
    the worker learns their outcomes at once. An item that names a task an earlier item named is
    answered 400 and not recorded. More than 64 items (or an item the schema refuses) is 400, and an
    offline worker's claim 409: then nothing is recorded. One request per agent cycle instead of a
    claim plus one report per ended task.

    Args:
        worker_id (str): An opaque identifier.
        body (ClaimRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ClaimResult | ErrorResponse]
    """

    kwargs = _get_kwargs(
        worker_id=worker_id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    worker_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: ClaimRequest,
) -> ClaimResult | ErrorResponse | None:
    """Claim the next task

     Atomically assigns the queued task with the highest effective priority that fits the resources the
    worker has free (FIFO within a priority), or answers with no assignment. With `max_tasks` above 1 it
    assigns, in one transaction, as many tasks (best first) as fit together in what is free, up to
    `max_tasks`: all of them are in `assignments`, the first also in `assignment`. With `wait_seconds`
    above 0 and nothing to assign, the server holds the request (a long poll) until a task it can assign
    is queued or the wait ends, then answers as without a wait; the lease is renewed meanwhile. An
    offline worker (drained, or declared lost) gets 409, its message saying which.

    A claim may carry the reports of tasks that just ended (`reports`, at most 64, each task once): the
    server records them first, each exactly as the report operation would (the same checks, events,
    audit entries, retries and run.json), then claims, and answers each in `reports` (same order) with
    what the report operation would have answered: the task's `TaskReportReply`, or the status and
    error body of the 400, 404 or 409 it would have been. A report that fails does not fail the claim
    or the others. A claim that carries reports never waits (it answers as with `wait_seconds` 0), so
    the worker learns their outcomes at once. An item that names a task an earlier item named is
    answered 400 and not recorded. More than 64 items (or an item the schema refuses) is 400, and an
    offline worker's claim 409: then nothing is recorded. One request per agent cycle instead of a
    claim plus one report per ended task.

    Args:
        worker_id (str): An opaque identifier.
        body (ClaimRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ClaimResult | ErrorResponse
    """

    return sync_detailed(
        worker_id=worker_id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    worker_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: ClaimRequest,
) -> Response[ClaimResult | ErrorResponse]:
    """Claim the next task

     Atomically assigns the queued task with the highest effective priority that fits the resources the
    worker has free (FIFO within a priority), or answers with no assignment. With `max_tasks` above 1 it
    assigns, in one transaction, as many tasks (best first) as fit together in what is free, up to
    `max_tasks`: all of them are in `assignments`, the first also in `assignment`. With `wait_seconds`
    above 0 and nothing to assign, the server holds the request (a long poll) until a task it can assign
    is queued or the wait ends, then answers as without a wait; the lease is renewed meanwhile. An
    offline worker (drained, or declared lost) gets 409, its message saying which.

    A claim may carry the reports of tasks that just ended (`reports`, at most 64, each task once): the
    server records them first, each exactly as the report operation would (the same checks, events,
    audit entries, retries and run.json), then claims, and answers each in `reports` (same order) with
    what the report operation would have answered: the task's `TaskReportReply`, or the status and
    error body of the 400, 404 or 409 it would have been. A report that fails does not fail the claim
    or the others. A claim that carries reports never waits (it answers as with `wait_seconds` 0), so
    the worker learns their outcomes at once. An item that names a task an earlier item named is
    answered 400 and not recorded. More than 64 items (or an item the schema refuses) is 400, and an
    offline worker's claim 409: then nothing is recorded. One request per agent cycle instead of a
    claim plus one report per ended task.

    Args:
        worker_id (str): An opaque identifier.
        body (ClaimRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ClaimResult | ErrorResponse]
    """

    kwargs = _get_kwargs(
        worker_id=worker_id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    worker_id: str,
    *,
    client: AuthenticatedClient | Client,
    body: ClaimRequest,
) -> ClaimResult | ErrorResponse | None:
    """Claim the next task

     Atomically assigns the queued task with the highest effective priority that fits the resources the
    worker has free (FIFO within a priority), or answers with no assignment. With `max_tasks` above 1 it
    assigns, in one transaction, as many tasks (best first) as fit together in what is free, up to
    `max_tasks`: all of them are in `assignments`, the first also in `assignment`. With `wait_seconds`
    above 0 and nothing to assign, the server holds the request (a long poll) until a task it can assign
    is queued or the wait ends, then answers as without a wait; the lease is renewed meanwhile. An
    offline worker (drained, or declared lost) gets 409, its message saying which.

    A claim may carry the reports of tasks that just ended (`reports`, at most 64, each task once): the
    server records them first, each exactly as the report operation would (the same checks, events,
    audit entries, retries and run.json), then claims, and answers each in `reports` (same order) with
    what the report operation would have answered: the task's `TaskReportReply`, or the status and
    error body of the 400, 404 or 409 it would have been. A report that fails does not fail the claim
    or the others. A claim that carries reports never waits (it answers as with `wait_seconds` 0), so
    the worker learns their outcomes at once. An item that names a task an earlier item named is
    answered 400 and not recorded. More than 64 items (or an item the schema refuses) is 400, and an
    offline worker's claim 409: then nothing is recorded. One request per agent cycle instead of a
    claim plus one report per ended task.

    Args:
        worker_id (str): An opaque identifier.
        body (ClaimRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ClaimResult | ErrorResponse
    """

    return (
        await asyncio_detailed(
            worker_id=worker_id,
            client=client,
            body=body,
        )
    ).parsed
