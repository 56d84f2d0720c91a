import sys

from circuitlab.cli.main import main

sys.exit(main())
