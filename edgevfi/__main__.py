import sys

from edgevfi.cli import main

sys.exit(main())
