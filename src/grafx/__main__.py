import sys

from grafx.cli import main

sys.exit(main())
