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


def test_serve_runs_the_cyclic_collector_less_often_than_cpython_does():
    """A poll's records are young objects alive until routed: at CPython's threshold of 700 the collector
    rescanned them about a hundred times per poll. Checked in a process of its own: the setting is process-wide."""
    code = (
        "import gc\n"
        "default = gc.get_threshold()\n"
        "from streamdrift.serve_command import collect_garbage_less_often\n"
        "collect_garbage_less_often()\n"
        "print(default[0], gc.get_threshold()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    default, serving = map(int, out.stdout.split())
    assert serving >= 20_000 > default

