from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.metrics_snapshot_http_requests_item import MetricsSnapshotHttpRequestsItem


T = TypeVar("T", bound="MetricsSnapshotHttp")


@_attrs_define
class MetricsSnapshotHttp:
    """Requests served, by operation and status, and their total latency in seconds.

    Attributes:
        requests (list[MetricsSnapshotHttpRequestsItem]):
        latency_seconds_sum (float):
    """

    requests: list[MetricsSnapshotHttpRequestsItem]
    latency_seconds_sum: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        requests = []
        for requests_item_data in self.requests:
            requests_item = requests_item_data.to_dict()
            requests.append(requests_item)

        latency_seconds_sum = self.latency_seconds_sum

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "requests": requests,
                "latency_seconds_sum": latency_seconds_sum,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.metrics_snapshot_http_requests_item import MetricsSnapshotHttpRequestsItem  # noqa: PLC0415

        d = dict(src_dict)
        requests = []
        _requests = d.pop("requests")
        for requests_item_data in _requests:
            requests_item = MetricsSnapshotHttpRequestsItem.from_dict(requests_item_data)

            requests.append(requests_item)

        latency_seconds_sum = d.pop("latency_seconds_sum")

        metrics_snapshot_http = cls(
            requests=requests,
            latency_seconds_sum=latency_seconds_sum,
        )

        metrics_snapshot_http.additional_properties = d
        return metrics_snapshot_http

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
