import pytest
import torch

# The tests use short signals, for which one thread is fastest and timing does not depend on how
# busy the machine is.
torch.set_num_threads(1)


@pytest.fixture
def one_thread():
    """One torch thread for a test, restored after it, whatever the test before it left.

    Tiny FFTs and fits of tiny tensors are dominated by thread hand-off on a shared, busy
    machine (a two-thread MKL FFT costs ~10 ms whatever its size, one thread ~20 us). Modules
    ask for it with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
