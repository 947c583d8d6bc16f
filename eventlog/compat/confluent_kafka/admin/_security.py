"""The value types of confluent_kafka.admin's resource, config, ACL and SCRAM calls, with the
argument checks confluent-kafka makes (ValueError/TypeError naming the bad argument).

eventlog has no authorizer and no SASL: the ACL and SCRAM types exist so code that builds them
runs, and the AdminClient calls taking them fail as against a broker without an authorizer
(`SECURITY_DISABLED`)."""
from __future__ import annotations

import enum
import functools


def _lt(cls):
    def __lt__(self, other):
        if not isinstance(other, cls):
            return NotImplemented
        return self.value < other.value
    cls.__lt__ = __lt__
    return cls


@_lt
class ResourceType(enum.Enum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    BROKER = 4
    TRANSACTIONAL_ID = 5


@_lt
class ResourcePatternType(enum.Enum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AlterConfigOpType(enum.Enum):
    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


class ConfigSource(enum.Enum):
    UNKNOWN_CONFIG = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    GROUP_CONFIG = 8


class ConfigEntry:
    """One configuration property of a resource (as described, or to alter incrementally)."""

    def __init__(self, name, value, source=ConfigSource.UNKNOWN_CONFIG, is_read_only=False,
                 is_default=False, is_sensitive=False, is_synonym=False, synonyms=None,
                 incremental_operation=None):
        self.name = name
        self.value = value
        self.source = source
        self.is_read_only = bool(is_read_only)
        self.is_default = bool(is_default)
        self.is_sensitive = bool(is_sensitive)
        self.is_synonym = bool(is_synonym)
        self.synonyms = dict(synonyms or {})
        self.incremental_operation = incremental_operation

    def __repr__(self):
        return f"ConfigEntry({self.name}=\"{self.value}\")"

    def __str__(self):
        return f"{self.name}=\"{self.value}\""


@functools.total_ordering
class ConfigResource:
    """A resource with configuration (a topic here; brokers and groups are described but not
    altered), and optionally the configuration to set on it."""
    Type = ResourceType

    def __init__(self, restype, name, set_config=None, described_configs=None, error=None,
                 incremental_configs=None):
        if name is None:
            raise ValueError("Expected resource name to be a string")
        if isinstance(restype, str):
            try:
                restype = ResourceType[restype.upper()]
            except KeyError:
                raise ValueError(f'Unknown resource type "{restype}": should be a ConfigResource.Type') from None
        elif isinstance(restype, int):
            restype = ResourceType(restype)
        self.restype = restype
        self.restype_int = int(restype.value)
        self.name = name
        self.set_config_dict = dict(set_config) if set_config is not None else {}
        self.incremental_configs = list(incremental_configs or [])
        self.configs = described_configs
        self.error = error

    def __repr__(self):
        if self.error is not None:
            return f"ConfigResource({self.restype},{self.name},{self.error!r})"
        return f"ConfigResource({self.restype},{self.name})"

    def __hash__(self):
        return hash((self.restype, self.name))

    def __lt__(self, other):
        if not isinstance(other, ConfigResource):
            return NotImplemented
        return (self.restype, self.name) < (other.restype, other.name)

    def __eq__(self, other):
        if not isinstance(other, ConfigResource):
            return NotImplemented
        return self.restype == other.restype and self.name == other.name

    def __len__(self):
        return len(self.set_config_dict)

    def set_config(self, name, value, overwrite=True):
        if not overwrite and name in self.set_config_dict:
            return
        self.set_config_dict[name] = value

    def add_incremental_config(self, config_entry):
        self.incremental_configs.append(config_entry)


@_lt
class AclOperation(enum.Enum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


@_lt
class AclPermissionType(enum.Enum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


def _to_enum(value, enum_cls):
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        try:
            return enum_cls[value.upper()]
        except KeyError:
            raise ValueError(f"Unknown value \"{value}\": should be a {enum_cls.__name__}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return enum_cls(value)
    raise TypeError(f"Unknown value type for {enum_cls.__name__}: {type(value).__name__}")


@functools.total_ordering
class AclBinding:
    """An ACL: resource (type, name, pattern type), principal, host, operation, permission."""

    _NOT_NONE = ("restype", "name", "resource_pattern_type", "principal", "host", "operation",
                 "permission_type")
    _STRINGS = ("name", "principal", "host")

    def _forbidden(self):
        return {"restype": [ResourceType.ANY],
                "resource_pattern_type": [ResourcePatternType.ANY, ResourcePatternType.MATCH],
                "operation": [AclOperation.ANY], "permission_type": [AclPermissionType.ANY]}

    def __init__(self, restype, name, resource_pattern_type, principal, host, operation, permission_type):
        self.restype = restype
        self.name = name
        self.resource_pattern_type = resource_pattern_type
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission_type = permission_type
        for k in self._NOT_NONE:
            if getattr(self, k) is None:
                raise ValueError(f"Expected {k} to be not None")
        for k in self._STRINGS:
            v = getattr(self, k)
            if v is not None and not isinstance(v, str):
                raise TypeError(f"Expected {k} to be a string")
        self.restype = _to_enum(self.restype, ResourceType)
        self.resource_pattern_type = _to_enum(self.resource_pattern_type, ResourcePatternType)
        self.operation = _to_enum(self.operation, AclOperation)
        self.permission_type = _to_enum(self.permission_type, AclPermissionType)
        for k, bad in self._forbidden().items():
            if getattr(self, k) in bad:
                raise ValueError(f"Cannot use enum {k}, value {getattr(self, k).name} in this class")
        self.restype_int = int(self.restype.value)
        self.resource_pattern_type_int = int(self.resource_pattern_type.value)
        self.operation_int = int(self.operation.value)
        self.permission_type_int = int(self.permission_type.value)

    def _to_tuple(self):
        return (self.restype, self.name, self.resource_pattern_type, self.principal, self.host,
                self.operation, self.permission_type)

    def __repr__(self):
        return "%s(%s,%s,%s,%s,%s,%s,%s)" % ((type(self).__name__,) + self._to_tuple())

    def __hash__(self):
        return hash(self._to_tuple())

    def __lt__(self, other):
        if not isinstance(other, AclBinding):
            return NotImplemented
        return self._to_tuple() < other._to_tuple()

    def __eq__(self, other):
        if not isinstance(other, AclBinding):
            return NotImplemented
        return self._to_tuple() == other._to_tuple()


class AclBindingFilter(AclBinding):
    """A filter matching ACLs (None matches any name, principal or host)."""

    _NOT_NONE = ("restype", "resource_pattern_type", "operation", "permission_type")

    def _forbidden(self):
        return {"restype": [ResourceType.UNKNOWN], "resource_pattern_type": [ResourcePatternType.UNKNOWN],
                "operation": [AclOperation.UNKNOWN], "permission_type": [AclPermissionType.UNKNOWN]}


@_lt
class ScramMechanism(enum.Enum):
    UNKNOWN = 0
    SCRAM_SHA_256 = 1
    SCRAM_SHA_512 = 2


class ScramCredentialInfo:
    def __init__(self, mechanism, iterations):
        self.mechanism = mechanism
        self.iterations = iterations


class UserScramCredentialsDescription:
    def __init__(self, user, scram_credential_infos):
        self.user = user
        self.scram_credential_infos = scram_credential_infos


class UserScramCredentialAlteration:
    def __init__(self, user):
        self.user = user


class UserScramCredentialUpsertion(UserScramCredentialAlteration):
    def __init__(self, user, scram_credential_info, password, salt=None):
        super().__init__(user)
        self.scram_credential_info = scram_credential_info
        self.password = password
        self.salt = salt


class UserScramCredentialDeletion(UserScramCredentialAlteration):
    def __init__(self, user, mechanism):
        super().__init__(user)
        self.mechanism = mechanism


class DeletedRecords:
    """Result of delete_records for one partition: the new `low_watermark`."""

    def __init__(self, low_watermark):
        self.low_watermark = low_watermark

    def __repr__(self):
        return f"DeletedRecords(low_watermark={self.low_watermark})"
