"""Operations on capacity reservations (Scheduler tag)."""

from __future__ import annotations

from typing import Any

from generated import models
from handlers.context import principal, services
from handlers.presenters import dump
from runplane.store.reservations import StoredReservation

Answer = tuple[dict[str, Any], int]


def _reservation(found: StoredReservation) -> models.Reservation:
    row = found.row
    return models.Reservation.model_validate(
        {
            "id": row.id,
            "user_id": row.user_id,
            "status": found.status,
            "gpu_count": row.gpu_count,
            "gpu_type": row.gpu_type,
            "node_count": row.node_count,
            "cpu": row.cpu,
            "memory_gb": row.memory_gb,
            "worker_ids": found.worker_ids,
            "active_task_ids": found.active_task_ids,
            "starts_at": row.starts_at,
            "expires_at": row.expires_at,
            "created_at": row.created_at,
            "ended_at": row.ended_at,
        }
    )


async def list_reservations(
    token_info: dict[str, Any],
    limit: int = 50,
    offset: int = 0,
    status: str | None = None,
    user_id: str | None = None,
) -> Answer:
    found, total = await services().reservations.page(
        principal(token_info), user_id=user_id, status=status, limit=limit, offset=offset
    )
    page = models.ReservationList(
        reservations=[_reservation(item) for item in found], total=total, limit=limit, offset=offset
    )
    return dump(page), 200


async def create_reservation(body: dict[str, Any], token_info: dict[str, Any]) -> Answer:
    request = models.ReservationCreate.model_validate(body)
    found = await services().reservations.create(principal(token_info), request)
    return dump(_reservation(found)), 201


async def get_reservation(reservation_id: str, token_info: dict[str, Any]) -> Answer:
    found = await services().reservations.visible(principal(token_info), reservation_id)
    return dump(_reservation(found)), 200


async def cancel_reservation(reservation_id: str, token_info: dict[str, Any]) -> Answer:
    found = await services().reservations.cancel(principal(token_info), reservation_id)
    return dump(_reservation(found)), 200
