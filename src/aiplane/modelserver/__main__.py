import sys

from aiplane.modelserver.main import main

sys.exit(main())
