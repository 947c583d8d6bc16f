"""Back ends other than a local directory, behind the same public API as `eventlog.Log`.

`eventlog.open(location)` dispatches here for URL locations (`kafka://...`); a directory path
stays with `eventlog.log.Log`. Each back end is a package of its own that imports only the
layers below it (types, storage's TopicConfig for settings, clients' partitioners, groups'
MemberDescription) and never the directory Log's internals.
"""
