"""``python -m attnff``: the ``attnff`` command line, also as torchrun's module (``torchrun -m attnff train``)."""

import sys

from .cli import main

sys.exit(main())
