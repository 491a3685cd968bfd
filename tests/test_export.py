"course_kit/ must be exactly what nbdev-export makes of nbs/."

import filecmp
import shutil
import subprocess
from conftest import BIN, ROOT


def test_package_is_the_export_of_the_notebooks(tmp_path):
    shutil.copytree(ROOT / 'nbs', tmp_path / 'nbs')
    shutil.copy(ROOT / 'pyproject.toml', tmp_path)
    (tmp_path / 'course_kit').mkdir()
    shutil.copy(ROOT / 'course_kit' / '__init__.py', tmp_path / 'course_kit')
    subprocess.run([str(BIN / 'nbdev-export')], cwd=tmp_path, check=True, capture_output=True)
    made = sorted(p.name for p in (tmp_path / 'course_kit').glob('*.py'))
    have = sorted(p.name for p in (ROOT / 'course_kit').glob('*.py'))
    assert made == have, f'modules differ: exported {made}, committed {have}'
    differ = [
        n
        for n in made
        if not filecmp.cmp(tmp_path / 'course_kit' / n, ROOT / 'course_kit' / n, shallow=False)
    ]
    assert not differ, f'edit the notebooks and run nbdev-export; these differ from the export: {differ}'
