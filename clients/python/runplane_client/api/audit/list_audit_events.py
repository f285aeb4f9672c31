import datetime
from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.audit_event_list import AuditEventList
from ...models.audit_event_type import AuditEventType
from ...models.error_response import ErrorResponse
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    event_type: AuditEventType | Unset = UNSET,
    user_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_from_: str | Unset = UNSET
    if not isinstance(from_, Unset):
        json_from_ = from_.isoformat()
    params["from"] = json_from_

    json_to: str | Unset = UNSET
    if not isinstance(to, Unset):
        json_to = to.isoformat()
    params["to"] = json_to

    json_event_type: str | Unset = UNSET
    if not isinstance(event_type, Unset):
        json_event_type = event_type.value

    params["event_type"] = json_event_type

    params["user_id"] = user_id

    params["limit"] = limit

    params["offset"] = offset

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/audit/events",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AuditEventList | ErrorResponse | None:
    if response.status_code == 200:
        response_200 = AuditEventList.from_dict(response.json())

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
) -> Response[AuditEventList | ErrorResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    event_type: AuditEventType | Unset = UNSET,
    user_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> Response[AuditEventList | ErrorResponse]:
    """Query audit events

     The tamper-evident audit log in chain order (oldest first), filtered by time range, event type and
    user (admin only). Each event carries `prev_hash` and `event_hash`, so a page can be checked
    outside runplane as docs/audit.md describes.

    Args:
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        event_type (AuditEventType | Unset): What an audit event records. `job_*` follow a task's
            status (queued, requeued after its worker was
            lost, assigned to a worker, started, and its end); `auth_attempt` is a refused API key or
            role;
            `file_access` a download of an artifact or snapshot; `plugin_configured` an admin's change
            of a
            tracking plugin's configuration (setting names only); `jupyter_*` a Jupyter service's
            start and end.
        user_id (str | Unset): The user a key acts for.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditEventList | ErrorResponse]
    """

    kwargs = _get_kwargs(
        from_=from_,
        to=to,
        event_type=event_type,
        user_id=user_id,
        limit=limit,
        offset=offset,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    event_type: AuditEventType | Unset = UNSET,
    user_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> AuditEventList | ErrorResponse | None:
    """Query audit events

     The tamper-evident audit log in chain order (oldest first), filtered by time range, event type and
    user (admin only). Each event carries `prev_hash` and `event_hash`, so a page can be checked
    outside runplane as docs/audit.md describes.

    Args:
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        event_type (AuditEventType | Unset): What an audit event records. `job_*` follow a task's
            status (queued, requeued after its worker was
            lost, assigned to a worker, started, and its end); `auth_attempt` is a refused API key or
            role;
            `file_access` a download of an artifact or snapshot; `plugin_configured` an admin's change
            of a
            tracking plugin's configuration (setting names only); `jupyter_*` a Jupyter service's
            start and end.
        user_id (str | Unset): The user a key acts for.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditEventList | ErrorResponse
    """

    return sync_detailed(
        client=client,
        from_=from_,
        to=to,
        event_type=event_type,
        user_id=user_id,
        limit=limit,
        offset=offset,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    event_type: AuditEventType | Unset = UNSET,
    user_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> Response[AuditEventList | ErrorResponse]:
    """Query audit events

     The tamper-evident audit log in chain order (oldest first), filtered by time range, event type and
    user (admin only). Each event carries `prev_hash` and `event_hash`, so a page can be checked
    outside runplane as docs/audit.md describes.

    Args:
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        event_type (AuditEventType | Unset): What an audit event records. `job_*` follow a task's
            status (queued, requeued after its worker was
            lost, assigned to a worker, started, and its end); `auth_attempt` is a refused API key or
            role;
            `file_access` a download of an artifact or snapshot; `plugin_configured` an admin's change
            of a
            tracking plugin's configuration (setting names only); `jupyter_*` a Jupyter service's
            start and end.
        user_id (str | Unset): The user a key acts for.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditEventList | ErrorResponse]
    """

    kwargs = _get_kwargs(
        from_=from_,
        to=to,
        event_type=event_type,
        user_id=user_id,
        limit=limit,
        offset=offset,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    event_type: AuditEventType | Unset = UNSET,
    user_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    offset: int | Unset = 0,
) -> AuditEventList | ErrorResponse | None:
    """Query audit events

     The tamper-evident audit log in chain order (oldest first), filtered by time range, event type and
    user (admin only). Each event carries `prev_hash` and `event_hash`, so a page can be checked
    outside runplane as docs/audit.md describes.

    Args:
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        event_type (AuditEventType | Unset): What an audit event records. `job_*` follow a task's
            status (queued, requeued after its worker was
            lost, assigned to a worker, started, and its end); `auth_attempt` is a refused API key or
            role;
            `file_access` a download of an artifact or snapshot; `plugin_configured` an admin's change
            of a
            tracking plugin's configuration (setting names only); `jupyter_*` a Jupyter service's
            start and end.
        user_id (str | Unset): The user a key acts for.
        limit (int | Unset):  Default: 50.
        offset (int | Unset):  Default: 0.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditEventList | ErrorResponse
    """

    return (
        await asyncio_detailed(
            client=client,
            from_=from_,
            to=to,
            event_type=event_type,
            user_id=user_id,
            limit=limit,
            offset=offset,
        )
    ).parsed
