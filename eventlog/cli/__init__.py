"""The `eventlog` command line. Imports the public API and below."""
