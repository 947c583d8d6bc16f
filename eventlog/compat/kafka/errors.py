"""kafka-python's exception classes (`kafka.errors`), same names, bases and error codes.

Generated once from kafka-python 3.0 (`errno`, `message` of each broker error); every class
derives from `KafkaError`, as in kafka-python, so `except KafkaError` catches them all.
`NoBrokersAvailable` (kafka-python 2.x) is kept for code written against 2.x.
"""
import sys as _sys


class KafkaError(Exception):
    retriable = False
    # whether metadata should be refreshed on error
    invalid_metadata = False

    def __str__(self):
        if not self.args:
            return self.__class__.__name__
        return '{0}: {1}'.format(self.__class__.__name__, super().__str__())

    def __eq__(self, other):
        return self.__class__ == other.__class__ and self.args == other.args

    __hash__ = Exception.__hash__


class RetriableError(KafkaError):
    retriable = True


class InvalidMetadataError(RetriableError):
    invalid_metadata = True


class BrokerResponseError(KafkaError):
    errno = None
    message = None
    description = None

    def __str__(self):
        return '[Error {0}] {1}'.format(self.errno, super().__str__())


class CommitFailedError(KafkaError):
    def __init__(self, *args):
        if not args:
            args = ("Commit cannot be completed since the group has already"
                    " rebalanced and assigned the partitions to another member.",)
        super().__init__(*args)


# (name, bases, errno, message, retriable, invalid_metadata) in definition order
_TABLE = [
    ('AuthorizationError', ('BrokerResponseError',), None, None, None, None),
    ('BrokerIdNotRegisteredError', ('BrokerResponseError',), 102, 'BROKER_ID_NOT_REGISTERED', None, None),
    ('BrokerNotAvailableError', ('BrokerResponseError',), 8, 'BROKER_NOT_AVAILABLE', None, None),
    ('Cancelled', ('RetriableError',), None, None, None, None),
    ('ClusterAuthorizationFailedError', ('AuthorizationError',), 31, 'CLUSTER_AUTHORIZATION_FAILED', None, None),
    ('ConcurrentTransactionsError', ('RetriableError', 'BrokerResponseError'), 51, 'CONCURRENT_TRANSACTIONS', None, None),
    ('CoordinatorLoadInProgressError', ('RetriableError', 'BrokerResponseError'), 14, 'COORDINATOR_LOAD_IN_PROGRESS', None, None),
    ('CoordinatorNotAvailableError', ('RetriableError', 'BrokerResponseError'), 15, 'COORDINATOR_NOT_AVAILABLE', None, None),
    ('KafkaProtocolError', ('KafkaError',), None, None, None, None),
    ('CorrelationIdError', ('RetriableError', 'KafkaProtocolError'), None, None, None, None),
    ('CorruptRecordError', ('BrokerResponseError',), 2, 'CORRUPT_MESSAGE', None, None),
    ('CorruptRecordException', ('BrokerResponseError',), 2, 'CORRUPT_MESSAGE', None, None),
    ('DelegationTokenAuthDisabledError', ('BrokerResponseError',), 61, 'DELEGATION_TOKEN_AUTH_DISABLED', None, None),
    ('DelegationTokenAuthorizationFailedError', ('AuthorizationError',), 65, 'DELEGATION_TOKEN_AUTHORIZATION_FAILED', None, None),
    ('DelegationTokenExpiredError', ('BrokerResponseError',), 66, 'DELEGATION_TOKEN_EXPIRED', None, None),
    ('DelegationTokenNotFoundError', ('BrokerResponseError',), 62, 'DELEGATION_TOKEN_NOT_FOUND', None, None),
    ('DelegationTokenOwnerMismatchError', ('BrokerResponseError',), 63, 'DELEGATION_TOKEN_OWNER_MISMATCH', None, None),
    ('DelegationTokenRequestNotAllowedError', ('BrokerResponseError',), 64, 'DELEGATION_TOKEN_REQUEST_NOT_ALLOWED', None, None),
    ('DuplicateBrokerRegistrationError', ('BrokerResponseError',), 101, 'DUPLICATE_BROKER_REGISTRATION', None, None),
    ('DuplicateResourceError', ('BrokerResponseError',), 92, 'DUPLICATE_RESOURCE', None, None),
    ('DuplicateSequenceNumberError', ('BrokerResponseError',), 46, 'DUPLICATE_SEQUENCE_NUMBER', None, None),
    ('DuplicateVoterError', ('BrokerResponseError',), 126, 'DUPLICATE_VOTER', None, None),
    ('ElectionNotNeededError', ('InvalidMetadataError', 'BrokerResponseError'), 84, 'ELECTION_NOT_NEEDED', None, None),
    ('EligibleLeadersNotAvailableError', ('InvalidMetadataError', 'BrokerResponseError'), 83, 'ELIGIBLE_LEADERS_NOT_AVAILABLE', None, None),
    ('FeatureUpdateFailedError', ('BrokerResponseError',), 96, 'FEATURE_UPDATE_FAILED', None, None),
    ('FencedInstanceIdError', ('BrokerResponseError',), 82, 'FENCED_INSTANCE_ID', None, None),
    ('FencedLeaderEpochError', ('InvalidMetadataError', 'BrokerResponseError'), 74, 'FENCED_LEADER_EPOCH', None, None),
    ('FencedMemberEpochError', ('BrokerResponseError',), 110, 'FENCED_MEMBER_EPOCH', None, None),
    ('FencedStateEpochError', ('BrokerResponseError',), 124, 'FENCED_STATE_EPOCH', None, None),
    ('FetchSessionIdNotFoundError', ('RetriableError', 'BrokerResponseError'), 70, 'FETCH_SESSION_ID_NOT_FOUND', None, None),
    ('FetchSessionTopicIdError', ('RetriableError', 'BrokerResponseError'), 106, 'FETCH_SESSION_TOPIC_ID_ERROR', None, None),
    ('GroupAuthorizationFailedError', ('AuthorizationError',), 30, 'GROUP_AUTHORIZATION_FAILED', None, None),
    ('GroupIdNotFoundError', ('BrokerResponseError',), 69, 'GROUP_ID_NOT_FOUND', None, None),
    ('GroupMaxSizeReachedError', ('BrokerResponseError',), 81, 'GROUP_MAX_SIZE_REACHED', None, None),
    ('GroupSubscribedToTopicError', ('BrokerResponseError',), 86, 'GROUP_SUBSCRIBED_TO_TOPIC', None, None),
    ('IllegalArgumentError', ('KafkaError',), None, None, None, None),
    ('IllegalGenerationError', ('BrokerResponseError',), 22, 'ILLEGAL_GENERATION', None, None),
    ('IllegalSaslStateError', ('BrokerResponseError',), 34, 'ILLEGAL_SASL_STATE', None, None),
    ('IllegalStateError', ('KafkaError',), None, None, None, None),
    ('UnsupportedVersionError', ('BrokerResponseError',), 35, 'UNSUPPORTED_VERSION', None, None),
    ('IncompatibleBrokerVersion', ('UnsupportedVersionError',), 35, None, None, None),
    ('InconsistentClusterIdError', ('BrokerResponseError',), 104, 'INCONSISTENT_CLUSTER_ID', None, None),
    ('InconsistentGroupProtocolError', ('BrokerResponseError',), 23, 'INCONSISTENT_GROUP_PROTOCOL', None, None),
    ('InconsistentTopicIdError', ('InvalidMetadataError', 'BrokerResponseError'), 103, 'INCONSISTENT_TOPIC_ID', None, None),
    ('InconsistentVoterSetError', ('BrokerResponseError',), 94, 'INCONSISTENT_VOTER_SET', None, None),
    ('IneligibleReplicaError', ('BrokerResponseError',), 107, 'INELIGIBLE_REPLICA', None, None),
    ('InvalidCommitOffsetSizeError', ('BrokerResponseError',), 28, 'INVALID_COMMIT_OFFSET_SIZE', None, None),
    ('InvalidConfigurationError', ('BrokerResponseError',), 40, 'INVALID_CONFIG', None, None),
    ('InvalidFetchRequestError', ('BrokerResponseError',), 4, 'INVALID_FETCH_SIZE', None, None),
    ('InvalidFetchSessionEpochError', ('RetriableError', 'BrokerResponseError'), 71, 'INVALID_FETCH_SESSION_EPOCH', None, None),
    ('InvalidGroupIdError', ('BrokerResponseError',), 24, 'INVALID_GROUP_ID', None, None),
    ('InvalidPartitionsError', ('BrokerResponseError',), 37, 'INVALID_PARTITIONS', None, None),
    ('InvalidPrincipalTypeError', ('BrokerResponseError',), 67, 'INVALID_PRINCIPAL_TYPE', None, None),
    ('InvalidProducerEpochError', ('BrokerResponseError',), 47, 'INVALID_PRODUCER_EPOCH', None, None),
    ('InvalidProducerIdMappingError', ('BrokerResponseError',), 49, 'INVALID_PRODUCER_ID_MAPPING', None, None),
    ('InvalidReceiveError', ('KafkaProtocolError',), None, None, None, None),
    ('InvalidRecordError', ('BrokerResponseError',), 87, 'INVALID_RECORD', None, None),
    ('InvalidRecordStateError', ('BrokerResponseError',), 121, 'INVALID_RECORD_STATE', None, None),
    ('InvalidRegistrationError', ('BrokerResponseError',), 119, 'INVALID_REGISTRATION', None, None),
    ('InvalidReplicationAssignmentError', ('BrokerResponseError',), 39, 'INVALID_REPLICATION_ASSIGNMENT', None, None),
    ('InvalidReplicationFactorError', ('BrokerResponseError',), 38, 'INVALID_REPLICATION_FACTOR', None, None),
    ('InvalidRequestError', ('BrokerResponseError',), 42, 'INVALID_REQUEST', None, None),
    ('InvalidRequiredAcksError', ('BrokerResponseError',), 21, 'INVALID_REQUIRED_ACKS', None, None),
    ('InvalidSessionTimeoutError', ('BrokerResponseError',), 26, 'INVALID_SESSION_TIMEOUT', None, None),
    ('InvalidShareSessionEpochError', ('RetriableError', 'BrokerResponseError'), 123, 'INVALID_SHARE_SESSION_EPOCH', None, None),
    ('InvalidTimestampError', ('BrokerResponseError',), 32, 'INVALID_TIMESTAMP', None, None),
    ('InvalidTopicError', ('BrokerResponseError',), 17, 'INVALID_TOPIC', None, None),
    ('InvalidTransactionTimeoutError', ('BrokerResponseError',), 50, 'INVALID_TRANSACTION_TIMEOUT', None, None),
    ('InvalidTxnStateError', ('BrokerResponseError',), 48, 'INVALID_TXN_STATE', None, None),
    ('InvalidUpdateVersionError', ('BrokerResponseError',), 95, 'INVALID_UPDATE_VERSION', None, None),
    ('InvalidVoterKeyError', ('BrokerResponseError',), 125, 'INVALID_VOTER_KEY', None, None),
    ('KafkaConfigurationError', ('KafkaError',), None, None, None, None),
    ('KafkaConnectionError', ('InvalidMetadataError',), None, None, None, None),
    ('KafkaStorageError', ('InvalidMetadataError', 'BrokerResponseError'), 56, 'KAFKA_STORAGE_ERROR', None, None),
    ('KafkaTimeoutError', ('RetriableError',), None, None, None, None),
    ('LeaderNotAvailableError', ('InvalidMetadataError', 'BrokerResponseError'), 5, 'LEADER_NOT_AVAILABLE', None, None),
    ('ListenerNotFoundError', ('InvalidMetadataError', 'BrokerResponseError'), 72, 'LISTENER_NOT_FOUND', None, None),
    ('LogDirNotFoundError', ('BrokerResponseError',), 57, 'LOG_DIR_NOT_FOUND', None, None),
    ('LogTruncationError', ('KafkaError',), None, None, None, None),
    ('MemberIdRequiredError', ('BrokerResponseError',), 79, 'MEMBER_ID_REQUIRED', None, None),
    ('MessageSizeTooLargeError', ('BrokerResponseError',), 10, 'MESSAGE_SIZE_TOO_LARGE', None, None),
    ('MetadataEmptyBrokerList', ('RetriableError',), None, None, None, None),
    ('MismatchedEndpointTypeError', ('BrokerResponseError',), 114, 'MISMATCHED_ENDPOINT_TYPE', None, None),
    ('NetworkExceptionError', ('InvalidMetadataError', 'BrokerResponseError'), 13, 'NETWORK_EXCEPTION', None, None),
    ('NewLeaderElectedError', ('BrokerResponseError',), 108, 'NEW_LEADER_ELECTED', None, None),
    ('NoError', ('BrokerResponseError',), 0, 'NO_ERROR', None, None),
    ('NoOffsetForPartitionError', ('KafkaError',), None, None, None, None),
    ('NoReassignmentInProgressError', ('BrokerResponseError',), 85, 'NO_REASSIGNMENT_IN_PROGRESS', None, None),
    ('NodeNotReadyError', ('RetriableError',), None, None, None, None),
    ('NonEmptyGroupError', ('BrokerResponseError',), 68, 'NON_EMPTY_GROUP', None, None),
    ('NotControllerError', ('RetriableError', 'BrokerResponseError'), 41, 'NOT_CONTROLLER', None, None),
    ('NotCoordinatorError', ('RetriableError', 'BrokerResponseError'), 16, 'NOT_COORDINATOR', None, None),
    ('NotEnoughReplicasAfterAppendError', ('RetriableError', 'BrokerResponseError'), 20, 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', None, None),
    ('NotEnoughReplicasError', ('RetriableError', 'BrokerResponseError'), 19, 'NOT_ENOUGH_REPLICAS', None, None),
    ('NotLeaderForPartitionError', ('InvalidMetadataError', 'BrokerResponseError'), 6, 'NOT_LEADER_FOR_PARTITION', None, None),
    ('OffsetMetadataTooLargeError', ('BrokerResponseError',), 12, 'OFFSET_METADATA_TOO_LARGE', None, None),
    ('OffsetMovedToTieredStorageError', ('BrokerResponseError',), 109, 'OFFSET_MOVED_TO_TIERED_STORAGE', None, None),
    ('OffsetNotAvailableError', ('RetriableError', 'BrokerResponseError'), 78, 'OFFSET_NOT_AVAILABLE', None, None),
    ('OffsetOutOfRangeError', ('BrokerResponseError',), 1, 'OFFSET_OUT_OF_RANGE', None, None),
    ('OperationNotAttemptedError', ('BrokerResponseError',), 55, 'OPERATION_NOT_ATTEMPTED', None, None),
    ('OutOfOrderSequenceNumberError', ('BrokerResponseError',), 45, 'OUT_OF_ORDER_SEQUENCE_NUMBER', None, None),
    ('PolicyViolationError', ('BrokerResponseError',), 44, 'POLICY_VIOLATION', None, None),
    ('PositionOutOfRangeError', ('BrokerResponseError',), 99, 'POSITION_OUT_OF_RANGE', None, None),
    ('PreferredLeaderNotAvailableError', ('InvalidMetadataError', 'BrokerResponseError'), 80, 'PREFERRED_LEADER_NOT_AVAILABLE', None, None),
    ('PrincipalDeserializationFailureError', ('BrokerResponseError',), 97, 'PRINCIPAL_DESERIALIZATION_FAILURE', None, None),
    ('ProducerFencedError', ('BrokerResponseError',), 90, 'PRODUCER_FENCED', None, None),
    ('QuotaViolationError', ('KafkaError',), None, None, None, None),
    ('ReassignmentInProgressError', ('BrokerResponseError',), 60, 'REASSIGNMENT_IN_PROGRESS', None, None),
    ('RebalanceInProgressError', ('BrokerResponseError',), 27, 'REBALANCE_IN_PROGRESS', None, None),
    ('RecordListTooLargeError', ('BrokerResponseError',), 18, 'RECORD_LIST_TOO_LARGE', None, None),
    ('ReplicaNotAvailableError', ('InvalidMetadataError', 'BrokerResponseError'), 9, 'REPLICA_NOT_AVAILABLE', None, None),
    ('RequestTimedOutError', ('RetriableError', 'BrokerResponseError'), 7, 'REQUEST_TIMED_OUT', None, None),
    ('ResourceNotFoundError', ('BrokerResponseError',), 91, 'RESOURCE_NOT_FOUND', None, None),
    ('SaslAuthenticationFailedError', ('BrokerResponseError',), 58, 'SASL_AUTHENTICATION_FAILED', None, None),
    ('SecurityDisabledError', ('BrokerResponseError',), 54, 'SECURITY_DISABLED', None, None),
    ('ShareSessionNotFoundError', ('RetriableError', 'BrokerResponseError'), 122, 'SHARE_SESSION_NOT_FOUND', None, None),
    ('SnapshotNotFoundError', ('BrokerResponseError',), 98, 'SNAPSHOT_NOT_FOUND', None, None),
    ('StaleBrokerEpochError', ('BrokerResponseError',), 77, 'STALE_BROKER_EPOCH', None, None),
    ('StaleControllerEpochError', ('BrokerResponseError',), 11, 'STALE_CONTROLLER_EPOCH', None, None),
    ('StaleMemberEpochError', ('BrokerResponseError',), 113, 'STALE_MEMBER_EPOCH', None, None),
    ('StaleMetadata', ('InvalidMetadataError',), None, None, None, None),
    ('TelemetryTooLargeError', ('BrokerResponseError',), 118, 'TELEMETRY_TOO_LARGE', None, None),
    ('ThrottlingQuotaExceededError', ('RetriableError', 'BrokerResponseError'), 89, 'THROTTLING_QUOTA_EXCEEDED', None, None),
    ('TooManyInFlightRequests', ('RetriableError',), None, None, None, None),
    ('TopicAlreadyExistsError', ('BrokerResponseError',), 36, 'TOPIC_ALREADY_EXISTS', None, None),
    ('TopicAuthorizationFailedError', ('AuthorizationError',), 29, 'TOPIC_AUTHORIZATION_FAILED', None, None),
    ('TopicDeletionDisabledError', ('BrokerResponseError',), 73, 'TOPIC_DELETION_DISABLED', None, None),
    ('TransactionAbortableError', ('BrokerResponseError',), 120, 'TRANSACTION_ABORTABLE', None, None),
    ('TransactionAbortedError', ('KafkaError',), None, 'Failing batch since transaction was aborted', None, None),
    ('TransactionCoordinatorFencedError', ('BrokerResponseError',), 52, 'TRANSACTION_COORDINATOR_FENCED', None, None),
    ('TransactionalIdAuthorizationFailedError', ('AuthorizationError',), 53, 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', None, None),
    ('TransactionalIdNotFoundError', ('BrokerResponseError',), 105, 'TRANSACTIONAL_ID_NOT_FOUND', None, None),
    ('UnacceptableCredentialError', ('BrokerResponseError',), 93, 'UNACCEPTABLE_CREDENTIAL', None, None),
    ('UnknownBrokerIdError', ('KafkaError',), None, None, None, None),
    ('UnknownControllerIdError', ('BrokerResponseError',), 116, 'UNKNOWN_CONTROLLER_ID', None, None),
    ('UnknownError', ('BrokerResponseError',), -1, 'UNKNOWN', None, None),
    ('UnknownLeaderEpochError', ('InvalidMetadataError', 'BrokerResponseError'), 75, 'UNKNOWN_LEADER_EPOCH', None, None),
    ('UnknownMemberIdError', ('BrokerResponseError',), 25, 'UNKNOWN_MEMBER_ID', None, None),
    ('UnknownProducerIdError', ('BrokerResponseError',), 59, 'UNKNOWN_PRODUCER_ID', None, None),
    ('UnknownSubscriptionIdError', ('BrokerResponseError',), 117, 'UNKNOWN_SUBSCRIPTION_ID', None, None),
    ('UnknownTopicIdError', ('InvalidMetadataError', 'BrokerResponseError'), 100, 'UNKNOWN_TOPIC_ID', None, None),
    ('UnknownTopicOrPartitionError', ('InvalidMetadataError', 'BrokerResponseError'), 3, 'UNKNOWN_TOPIC_OR_PARTITION', None, None),
    ('UnrecognizedBrokerVersion', ('KafkaError',), None, None, None, None),
    ('UnreleasedInstanceIdError', ('BrokerResponseError',), 111, 'UNRELEASED_INSTANCE_ID', None, None),
    ('UnstableOffsetCommitError', ('RetriableError', 'BrokerResponseError'), 88, 'UNSTABLE_OFFSET_COMMIT', None, None),
    ('UnsupportedAssignorError', ('BrokerResponseError',), 112, 'UNSUPPORTED_ASSIGNOR', None, None),
    ('UnsupportedCodecError', ('KafkaError',), None, None, None, None),
    ('UnsupportedCompressionTypeError', ('BrokerResponseError',), 76, 'UNSUPPORTED_COMPRESSION_TYPE', None, None),
    ('UnsupportedEndpointTypeError', ('BrokerResponseError',), 115, 'UNSUPPORTED_ENDPOINT_TYPE', None, None),
    ('UnsupportedForMessageFormatError', ('BrokerResponseError',), 43, 'UNSUPPORTED_FOR_MESSAGE_FORMAT', None, None),
    ('UnsupportedSaslMechanismError', ('BrokerResponseError',), 33, 'UNSUPPORTED_SASL_MECHANISM', None, None),
    ('VoterNotFoundError', ('BrokerResponseError',), 127, 'VOTER_NOT_FOUND', None, None),
]

_mod = _sys.modules[__name__]
for _name, _bases, _errno, _msg, _retr, _inv in _TABLE:
    if hasattr(_mod, _name):
        continue
    _ns = {"__module__": __name__}
    if _errno is not None:
        _ns.update(errno=_errno, message=_msg, description=_msg)
    if _retr is not None:
        _ns["retriable"] = _retr
    if _inv is not None:
        _ns["invalid_metadata"] = _inv
    setattr(_mod, _name, type(_name, tuple(getattr(_mod, b) for b in _bases), _ns))
del _name, _bases, _errno, _msg, _retr, _inv, _ns


class NoBrokersAvailable(KafkaError):  # noqa: F811 - kafka-python 2.x
    retriable = True
    invalid_metadata = True


class SerializationError(KafkaError):
    pass


def _iter_broker_errors():
    for v in list(vars(_mod).values()):
        if isinstance(v, type) and issubclass(v, BrokerResponseError) and v is not BrokerResponseError:
            yield v


kafka_errors = {x.errno: x for x in _iter_broker_errors()}


def for_code(error_code):
    if error_code in kafka_errors:
        return kafka_errors[error_code]
    return type('UnrecognizedBrokerError', (UnknownError,), {'errno': error_code})  # noqa: F821
