"""python -m analysis.claims"""

import sys

from analysis.claims.report import main

sys.exit(main())
