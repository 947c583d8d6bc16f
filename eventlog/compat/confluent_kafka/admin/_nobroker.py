"""AdminClient calls for broker features eventlog does not have: ACLs and SCRAM users (they
fail in their futures with SECURITY_DISABLED, as against a broker without an authorizer or
SASL), and leader elections (ELECTION_NOT_NEEDED: every partition has its one replica as
leader). The arguments are checked as confluent-kafka checks them first.
Mixed into AdminClient, which provides `_log`."""
from __future__ import annotations

from eventlog import errors as _el
from eventlog.compat.confluent_kafka._model import ElectionType
from eventlog.compat.confluent_kafka.admin._futures import _done
from eventlog.compat.confluent_kafka._types import KafkaError, TopicPartition, _exc
from eventlog.compat.confluent_kafka.admin._security import (AclBinding, AclBindingFilter, ScramCredentialInfo, ScramMechanism,
                                                              UserScramCredentialAlteration, UserScramCredentialDeletion,
                                                              UserScramCredentialUpsertion)


def _check_bindings(items, cls, what):
    """confluent-kafka's checks of create_acls / delete_acls arguments, in its order: the
    Python layer refuses duplicates (TypeError for a non-collection) and elements of another
    type (ValueError); the C layer wants a non-empty list."""
    if len(set(items)) != len(items):
        raise ValueError(f"duplicate {what} not allowed")
    for a in items:
        if not isinstance(a, cls):
            raise ValueError(f"Expected list of {cls!r}")
    if not isinstance(items, list):
        raise TypeError(f"Expected list of {cls.__name__}")
    if not items:
        raise ValueError(f"Expected non-empty list of {cls.__name__} objects")


class NoBrokerFeaturesMixin:
    """ACLs, SCRAM credentials and leader elections for AdminClient."""

    @staticmethod
    def _security_disabled():
        return _exc(KafkaError.SECURITY_DISABLED, "Broker: Security features are disabled "
                    "(eventlog has no authorizer and no SASL)")

    def create_acls(self, acls, request_timeout=None, **kwargs):
        """Fails per binding with SECURITY_DISABLED, as a broker without an authorizer does."""
        _check_bindings(acls, AclBinding, "ACL bindings")
        return {a: _done(exc=self._security_disabled()) for a in acls}

    def describe_acls(self, acl_binding_filter, request_timeout=None, **kwargs):
        """Fails with SECURITY_DISABLED, as a broker without an authorizer does."""
        if not isinstance(acl_binding_filter, AclBindingFilter):
            raise TypeError("Expected an AclBindingFilter object")
        return _done(exc=self._security_disabled())

    def delete_acls(self, acl_binding_filters, request_timeout=None, **kwargs):
        """Fails per filter with SECURITY_DISABLED, as a broker without an authorizer does."""
        _check_bindings(acl_binding_filters, AclBindingFilter, "ACL binding filters")
        return {a: _done(exc=self._security_disabled()) for a in acl_binding_filters}

    def describe_user_scram_credentials(self, users=None, request_timeout=None, **kwargs):
        """Fails with SECURITY_DISABLED: eventlog has no SASL users."""
        if users is not None:
            if not isinstance(users, list):
                raise TypeError("Expected input to be list of String")
            for u in users:
                if u is None:
                    raise TypeError("'user' cannot be None")
                if not isinstance(u, str):
                    raise TypeError("Each value should be a string")
                if not u:
                    raise ValueError("'user' cannot be empty")
            return {u: _done(exc=self._security_disabled()) for u in users}
        return _done(exc=self._security_disabled())

    def alter_user_scram_credentials(self, alterations, request_timeout=None, **kwargs):
        """Checks the alterations as confluent-kafka does, then fails each user with
        SECURITY_DISABLED: eventlog has no SASL users."""
        if not isinstance(alterations, list):
            raise TypeError("Expected input to be list")
        if not alterations:
            raise ValueError("Expected at least one alteration")
        for a in alterations:
            if not isinstance(a, UserScramCredentialAlteration):
                raise TypeError("Expected each element of list to be subclass of UserScramCredentialAlteration")
            if a.user is None:
                raise TypeError("'user' cannot be None")
            if not isinstance(a.user, str):
                raise TypeError("'user' must be a string")
            if not a.user:
                raise ValueError("'user' cannot be empty")
            if isinstance(a, UserScramCredentialUpsertion):
                if a.password is None:
                    raise TypeError("'password' cannot be None")
                if not isinstance(a.password, bytes):
                    raise TypeError("'password' must be bytes")
                if not a.password:
                    raise ValueError("'password' cannot be empty")
                if a.salt is not None and not a.salt:
                    raise ValueError("'salt' can be None but cannot be empty")
                if a.salt and not isinstance(a.salt, bytes):
                    raise TypeError("'salt' must be bytes")
                if not isinstance(a.scram_credential_info, ScramCredentialInfo):
                    raise TypeError("Expected credential_info to be ScramCredentialInfo Type")
                if a.scram_credential_info.iterations < 1:
                    raise ValueError("Iterations should be positive")
                if not isinstance(a.scram_credential_info.mechanism, ScramMechanism):
                    raise TypeError("Expected the mechanism to be ScramMechanism Type")
            elif isinstance(a, UserScramCredentialDeletion):
                if not isinstance(a.mechanism, ScramMechanism):
                    raise TypeError("Expected the mechanism to be ScramMechanism Type")
            else:
                raise TypeError("Expected each element of list 'alterations' to be either a "
                                "UserScramCredentialUpsertion or a UserScramCredentialDeletion")
        return {u: _done(exc=self._security_disabled()) for u in {a.user for a in alterations}}

    def elect_leaders(self, election_type, partitions=None, request_timeout=None, operation_timeout=None,
                      **kwargs):
        """One replica per partition: every election is ELECTION_NOT_NEEDED (per partition)."""
        if not isinstance(election_type, ElectionType):
            raise TypeError("Expected 'election_type' to be of type 'ElectionType'")
        if partitions is not None:
            if not isinstance(partitions, list):
                raise TypeError(f"Expected 'partitions' to be a list, got '{type(partitions).__name__}'")
            for tp in partitions:
                if not isinstance(tp, TopicPartition):
                    raise TypeError("Element of the 'partitions' list must be of type 'TopicPartition'"
                                    f" got '{type(tp).__name__}' ")
                if tp.partition < 0:
                    raise ValueError("Elements of the 'partitions' list must not have negative value"
                                     " for 'partition' field")
        if partitions is None:
            partitions = [TopicPartition(t, p) for t in self._log.topics()
                          for p in range(self._log.topic(t).config.partitions)]
        return _done({tp: self._election_result(tp) for tp in partitions})

    def _election_result(self, tp):
        """A broker's answer for one partition: nothing to elect (one replica, always the
        leader), or UNKNOWN_TOPIC_OR_PART for a partition it does not have."""
        try:
            self._log.topic(tp.topic).partition(tp.partition)
        except _el.EventLogError:
            return KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, f"No such topic as {tp.topic}")
        return KafkaError(KafkaError.ELECTION_NOT_NEEDED)
