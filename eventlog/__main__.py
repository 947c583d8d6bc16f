"""`python -m eventlog ...`: the same command line as the `eventlog` console script."""
import sys

from eventlog.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
