"""The test suite's own tools can fail."""

import pytest
from conftest import need


def test_what_ci_always_has_fails_there_instead_of_skipping(monkeypatch):
    monkeypatch.setenv('CI', 'true')
    with pytest.raises(pytest.fail.Exception, match='chromium is missing on the CI machine'):
        need(False, 'chromium')
    need(True, 'chromium')  # present: nothing happens
    monkeypatch.delenv('CI')
    with pytest.raises(pytest.skip.Exception, match='chromium is missing here'):
        need(False, 'chromium')
