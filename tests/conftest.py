import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def run(args, env_extra=None, **kw):
    "Run a command from the repository root; returns the CompletedProcess (never raises on exit code)."
    env = {k: v for k, v in {**os.environ, **(env_extra or {})}.items() if k != 'MPLBACKEND'}   # kernels draw inline
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, **kw)

@pytest.fixture
def out_env(tmp_path):
    "Send report output to a temporary folder instead of reports/_out."
    return {'COURSE_KIT_REPORTS_OUT': str(tmp_path/'out'), 'COURSE_KIT_RUNS_DIR': str(tmp_path/'runs')}

def read_metrics(folder):
    return json.loads((Path(folder)/'metrics.json').read_text())
