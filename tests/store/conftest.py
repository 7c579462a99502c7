import pytest

from tests.support.inprocess import Clock


@pytest.fixture
def clock() -> Clock:
    """Stands still until the test moves it."""
    return Clock()
