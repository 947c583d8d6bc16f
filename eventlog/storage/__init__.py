"""The storage engine: batch codec, segments, partitions, topics. Imports only _os and errors/record."""
