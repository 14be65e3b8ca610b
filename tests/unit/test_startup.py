"""Start-up cost: the service's import graph stays free of scipy and River's drift package.

River's `river.drift` imports scipy.stats (~0.7 s); a service whose configuration uses no River
detector must not pay it on every restart (restart-to-first-event is a goal in docs/scaling.md).
"""

import subprocess
import sys


def test_serving_the_default_configuration_imports_neither_scipy_nor_river():
    code = (
        "import sys\n"
        "import streamdrift.serve_command, consumers.service\n"
        "from stream.config import Config\n"
        "Config.model_validate({'models': [{'model_id': 'm', 'features': [{'name': 'x'}],"
        " 'prediction': {'type': 'categorical'}}]})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('scipy', 'river')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
