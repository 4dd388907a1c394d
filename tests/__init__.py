"""The test suite.

pytest-xdist's workers start with ``COLUMNS=80`` in their environment, and a rich console
created at import (``openvpp.cli.common``) would keep that width for good. Without it the
consoles size themselves at each print, as in a single process, and the tests that need wide
output set ``COLUMNS`` themselves.
"""

import os

os.environ.pop("COLUMNS", None)
