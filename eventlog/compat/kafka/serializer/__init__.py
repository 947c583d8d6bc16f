"""kafka.serializer: the (de)serializer interfaces and the built-in ones."""
from eventlog.compat.kafka.serializer import abstract, default, json, wrapper  # noqa: F401 - public submodules
from eventlog.compat.kafka.serializer.abstract import Deserializer, Serializer
from eventlog.compat.kafka.serializer.default import DefaultSerializer
from eventlog.compat.kafka.serializer.json import JsonSerializer
from eventlog.compat.kafka.serializer.wrapper import DeserializeWrapper, SerializeWrapper

__all__ = ["Serializer", "Deserializer", "DefaultSerializer", "JsonSerializer", "SerializeWrapper",
           "DeserializeWrapper"]
