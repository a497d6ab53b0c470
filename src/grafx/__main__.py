import sys

from grafx.cli import console_main

sys.exit(console_main())
