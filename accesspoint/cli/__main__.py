import sys

from accesspoint.cli import main

sys.exit(main())
