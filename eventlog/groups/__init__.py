"""Consumer groups through file locks: membership, assignment, admin view. Imports clients and below."""
