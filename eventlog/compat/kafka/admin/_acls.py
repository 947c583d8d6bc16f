"""kafka.admin's ACL types (ResourceType, ACLOperation, ACLPermissionType, ACLResourcePatternType,
ACLFilter, ACL, ResourcePatternFilter, ResourcePattern), with kafka-python's checks
(IllegalArgumentError). eventlog has no authorizer: the admin ACL calls fail as against a
broker without one (SecurityDisabledError)."""
from __future__ import annotations

import enum

from eventlog.compat.kafka.errors import IllegalArgumentError


class ResourceType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class ACLOperation(enum.IntEnum):
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
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class ACLPermissionType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


class ACLResourcePatternType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class ACLFilter:
    """Matches ACLs (ANY / None match anything)."""

    def __init__(self, principal, host, operation, permission_type, resource_pattern):
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission_type = permission_type
        self.resource_pattern = resource_pattern
        self.validate()

    def validate(self):
        if not isinstance(self.operation, ACLOperation):
            raise IllegalArgumentError("operation must be an ACLOperation object, and cannot be ANY")
        if not isinstance(self.permission_type, ACLPermissionType):
            raise IllegalArgumentError("permission_type must be an ACLPermissionType object, and cannot be ANY")
        if not isinstance(self.resource_pattern, ResourcePatternFilter):
            raise IllegalArgumentError("resource_pattern must be a ResourcePatternFilter object")

    def _key(self):
        return (self.principal, self.host, self.operation, self.permission_type, self.resource_pattern)

    def __repr__(self):
        return (f"<ACL principal={self.principal}, resource={self.resource_pattern}, "
                f"operation={self.operation.name}, type={self.permission_type.name}, host={self.host}>")

    def __eq__(self, other):
        return isinstance(other, ACLFilter) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


class ACL(ACLFilter):
    """One ACL: no ANY/UNKNOWN operation or permission, a concrete resource pattern."""

    def validate(self):
        if self.operation in (ACLOperation.ANY, ACLOperation.UNKNOWN):
            raise IllegalArgumentError("operation cannot be ANY or UNKNOWN")
        if self.permission_type in (ACLPermissionType.ANY, ACLPermissionType.UNKNOWN):
            raise IllegalArgumentError("permission_type cannot be ANY or UNKNOWN")
        if not isinstance(self.resource_pattern, ResourcePattern):
            raise IllegalArgumentError("resource_pattern must be a ResourcePattern object")


class ResourcePatternFilter:
    def __init__(self, resource_type, resource_name, pattern_type):
        self.resource_type = resource_type
        self.resource_name = resource_name
        self.pattern_type = pattern_type
        self.validate()

    def validate(self):
        if not isinstance(self.resource_type, ResourceType):
            raise IllegalArgumentError("resource_type must be a ResourceType object")
        if not isinstance(self.pattern_type, ACLResourcePatternType):
            raise IllegalArgumentError("pattern_type must be an ACLResourcePatternType object")

    def __repr__(self):
        return (f"<ResourcePattern type={self.resource_type.name}, name={self.resource_name}, "
                f"pattern={self.pattern_type.name}>")

    def __eq__(self, other):
        return (isinstance(other, ResourcePatternFilter) and
                (self.resource_type, self.resource_name, self.pattern_type) ==
                (other.resource_type, other.resource_name, other.pattern_type))

    def __hash__(self):
        return hash((self.resource_type, self.resource_name, self.pattern_type))


class ResourcePattern(ResourcePatternFilter):
    def __init__(self, resource_type, resource_name, pattern_type=ACLResourcePatternType.LITERAL):
        super().__init__(resource_type, resource_name, pattern_type)

    def validate(self):
        if self.resource_type in (ResourceType.ANY, ResourceType.UNKNOWN):
            raise IllegalArgumentError("resource_type cannot be ANY or UNKNOWN")
        if self.pattern_type in (ACLResourcePatternType.ANY, ACLResourcePatternType.MATCH,
                                 ACLResourcePatternType.UNKNOWN):
            raise IllegalArgumentError("pattern_type cannot be {} on a concrete ResourcePattern".format(
                self.pattern_type.name))
