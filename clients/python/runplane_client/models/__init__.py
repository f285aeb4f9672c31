"""Contains all the data models used in inputs/outputs"""

from .api_key import ApiKey
from .api_key_create import ApiKeyCreate
from .api_key_created import ApiKeyCreated
from .api_key_list import ApiKeyList
from .artifact import Artifact
from .artifact_list import ArtifactList
from .audit_chain_root import AuditChainRoot
from .audit_event import AuditEvent
from .audit_event_list import AuditEventList
from .audit_event_metadata import AuditEventMetadata
from .audit_event_type import AuditEventType
from .audit_verification import AuditVerification
from .audit_verification_reason_type_1 import AuditVerificationReasonType1
from .audit_verification_reason_type_2_type_1 import AuditVerificationReasonType2Type1
from .audit_verification_reason_type_3_type_1 import AuditVerificationReasonType3Type1
from .claim_report import ClaimReport
from .claim_report_result import ClaimReportResult
from .claim_request import ClaimRequest
from .claim_result import ClaimResult
from .dataset_spec import DatasetSpec
from .duration_summary import DurationSummary
from .environment import Environment
from .error_code import ErrorCode
from .error_response import ErrorResponse
from .error_response_details import ErrorResponseDetails
from .event_topic import EventTopic
from .experiment import Experiment
from .experiment_create import ExperimentCreate
from .experiment_list import ExperimentList
from .experiment_status import ExperimentStatus
from .experiment_update import ExperimentUpdate
from .failure_reason import FailureReason
from .gpu_device import GpuDevice
from .health_check import HealthCheck
from .health_response import HealthResponse
from .health_status import HealthStatus
from .heartbeat import Heartbeat
from .heartbeat_reply import HeartbeatReply
from .jupyter_service import JupyterService
from .jupyter_service_create import JupyterServiceCreate
from .jupyter_service_list import JupyterServiceList
from .jupyter_service_status import JupyterServiceStatus
from .log_batch import LogBatch
from .log_line import LogLine
from .log_line_stream import LogLineStream
from .metadata import Metadata
from .metrics_snapshot import MetricsSnapshot
from .metrics_snapshot_connections import MetricsSnapshotConnections
from .metrics_snapshot_events import MetricsSnapshotEvents
from .metrics_snapshot_http import MetricsSnapshotHttp
from .metrics_snapshot_http_requests_item import MetricsSnapshotHttpRequestsItem
from .metrics_snapshot_tasks import MetricsSnapshotTasks
from .metrics_snapshot_workers import MetricsSnapshotWorkers
from .model import Model
from .model_input import ModelInput
from .model_inputs import ModelInputs
from .model_list import ModelList
from .node_assignment import NodeAssignment
from .parameter_grid import ParameterGrid
from .plugin import Plugin
from .plugin_config import PluginConfig
from .plugin_config_settings import PluginConfigSettings
from .plugin_health import PluginHealth
from .plugin_mode import PluginMode
from .plugin_status import PluginStatus
from .plugin_status_value import PluginStatusValue
from .priority_update import PriorityUpdate
from .queue_stats import QueueStats
from .queue_stats_data import QueueStatsData
from .reported_status import ReportedStatus
from .reservation import Reservation
from .reservation_create import ReservationCreate
from .reservation_list import ReservationList
from .reservation_status import ReservationStatus
from .result_row import ResultRow
from .result_summary import ResultSummary
from .role import Role
from .run_create import RunCreate
from .run_created import RunCreated
from .run_identity import RunIdentity
from .run_identity_variation_values import RunIdentityVariationValues
from .run_results import RunResults
from .run_state import RunState
from .run_status import RunStatus
from .runner_model import RunnerModel
from .runner_model_list import RunnerModelList
from .scheduler_status import SchedulerStatus
from .server_config import ServerConfig
from .server_config_database_backend import ServerConfigDatabaseBackend
from .server_config_log_format import ServerConfigLogFormat
from .server_config_log_level import ServerConfigLogLevel
from .server_sent_event import ServerSentEvent
from .snapshot import Snapshot
from .stream_event import StreamEvent
from .string_map import StringMap
from .sweep import Sweep
from .sweep_cancellation import SweepCancellation
from .sweep_create import SweepCreate
from .sweep_goal import SweepGoal
from .sweep_grid import SweepGrid
from .sweep_list import SweepList
from .sweep_result_row import SweepResultRow
from .sweep_results import SweepResults
from .sweep_status_counts import SweepStatusCounts
from .sweep_trial_type_0 import SweepTrialType0
from .sweep_variation import SweepVariation
from .task import Task
from .task_assignment import TaskAssignment
from .task_attempt import TaskAttempt
from .task_complete_data import TaskCompleteData
from .task_create import TaskCreate
from .task_create_plugin_configs import TaskCreatePluginConfigs
from .task_create_secrets import TaskCreateSecrets
from .task_failure import TaskFailure
from .task_kind import TaskKind
from .task_list import TaskList
from .task_plugin_configs import TaskPluginConfigs
from .task_plugin_status import TaskPluginStatus
from .task_progress_data import TaskProgressData
from .task_report import TaskReport
from .task_report_reply import TaskReportReply
from .task_results import TaskResults
from .task_retry import TaskRetry
from .task_retry_secrets import TaskRetrySecrets
from .task_status import TaskStatus
from .task_status_report import TaskStatusReport
from .task_update_data import TaskUpdateData
from .task_variation_values import TaskVariationValues
from .worker import Worker
from .worker_capabilities import WorkerCapabilities
from .worker_lease import WorkerLease
from .worker_list import WorkerList
from .worker_registration import WorkerRegistration
from .worker_slots import WorkerSlots
from .worker_status import WorkerStatus
from .worker_status_data import WorkerStatusData
from .worker_status_data_change import WorkerStatusDataChange
from .ws_client_message import WsClientMessage
from .ws_client_message_type import WsClientMessageType
from .ws_server_message import WsServerMessage
from .ws_server_message_data import WsServerMessageData

__all__ = (
    "ApiKey",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyList",
    "Artifact",
    "ArtifactList",
    "AuditChainRoot",
    "AuditEvent",
    "AuditEventList",
    "AuditEventMetadata",
    "AuditEventType",
    "AuditVerification",
    "AuditVerificationReasonType1",
    "AuditVerificationReasonType2Type1",
    "AuditVerificationReasonType3Type1",
    "ClaimReport",
    "ClaimReportResult",
    "ClaimRequest",
    "ClaimResult",
    "DatasetSpec",
    "DurationSummary",
    "Environment",
    "ErrorCode",
    "ErrorResponse",
    "ErrorResponseDetails",
    "EventTopic",
    "Experiment",
    "ExperimentCreate",
    "ExperimentList",
    "ExperimentStatus",
    "ExperimentUpdate",
    "FailureReason",
    "GpuDevice",
    "HealthCheck",
    "HealthResponse",
    "HealthStatus",
    "Heartbeat",
    "HeartbeatReply",
    "JupyterService",
    "JupyterServiceCreate",
    "JupyterServiceList",
    "JupyterServiceStatus",
    "LogBatch",
    "LogLine",
    "LogLineStream",
    "Metadata",
    "MetricsSnapshot",
    "MetricsSnapshotConnections",
    "MetricsSnapshotEvents",
    "MetricsSnapshotHttp",
    "MetricsSnapshotHttpRequestsItem",
    "MetricsSnapshotTasks",
    "MetricsSnapshotWorkers",
    "Model",
    "ModelInput",
    "ModelInputs",
    "ModelList",
    "NodeAssignment",
    "ParameterGrid",
    "Plugin",
    "PluginConfig",
    "PluginConfigSettings",
    "PluginHealth",
    "PluginMode",
    "PluginStatus",
    "PluginStatusValue",
    "PriorityUpdate",
    "QueueStats",
    "QueueStatsData",
    "ReportedStatus",
    "Reservation",
    "ReservationCreate",
    "ReservationList",
    "ReservationStatus",
    "ResultRow",
    "ResultSummary",
    "Role",
    "RunCreate",
    "RunCreated",
    "RunIdentity",
    "RunIdentityVariationValues",
    "RunnerModel",
    "RunnerModelList",
    "RunResults",
    "RunState",
    "RunStatus",
    "SchedulerStatus",
    "ServerConfig",
    "ServerConfigDatabaseBackend",
    "ServerConfigLogFormat",
    "ServerConfigLogLevel",
    "ServerSentEvent",
    "Snapshot",
    "StreamEvent",
    "StringMap",
    "Sweep",
    "SweepCancellation",
    "SweepCreate",
    "SweepGoal",
    "SweepGrid",
    "SweepList",
    "SweepResultRow",
    "SweepResults",
    "SweepStatusCounts",
    "SweepTrialType0",
    "SweepVariation",
    "Task",
    "TaskAssignment",
    "TaskAttempt",
    "TaskCompleteData",
    "TaskCreate",
    "TaskCreatePluginConfigs",
    "TaskCreateSecrets",
    "TaskFailure",
    "TaskKind",
    "TaskList",
    "TaskPluginConfigs",
    "TaskPluginStatus",
    "TaskProgressData",
    "TaskReport",
    "TaskReportReply",
    "TaskResults",
    "TaskRetry",
    "TaskRetrySecrets",
    "TaskStatus",
    "TaskStatusReport",
    "TaskUpdateData",
    "TaskVariationValues",
    "Worker",
    "WorkerCapabilities",
    "WorkerLease",
    "WorkerList",
    "WorkerRegistration",
    "WorkerSlots",
    "WorkerStatus",
    "WorkerStatusData",
    "WorkerStatusDataChange",
    "WsClientMessage",
    "WsClientMessageType",
    "WsServerMessage",
    "WsServerMessageData",
)
