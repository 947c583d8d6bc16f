"""kafka.serializer: the (de)serializer interfaces and the built-in ones."""
from . import abstract, default, json, wrapper  # noqa: F401 - public submodules
from .abstract import Deserializer, Serializer
from .default import DefaultSerializer
from .json import JsonSerializer
from .wrapper import DeserializeWrapper, SerializeWrapper

__all__ = ["Serializer", "Deserializer", "DefaultSerializer", "JsonSerializer", "SerializeWrapper",
           "DeserializeWrapper"]
