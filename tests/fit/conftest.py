import pytest


@pytest.fixture(autouse=True)
def _fits_on_one_thread(one_thread):
    """Fits run many tiny ops; on a shared 2-core machine one thread avoids spin-wait stalls."""
