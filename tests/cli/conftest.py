import pytest
import torch

from grafx.cli import main


@pytest.fixture
def run(capsys):
    """``run(*args) -> (status, stdout, stderr)`` of ``grafx --threads 1 ARGS``; the thread
    count is restored afterwards. (test_cli.py has its own ``run``, without ``--threads``.)"""
    before = torch.get_num_threads()

    def call(*args):
        status = main(["--threads", "1", *map(str, args)])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    yield call
    torch.set_num_threads(before)
