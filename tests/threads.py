"""``single_thread``: an autouse, module-scoped fixture for test modules of tiny matrices, where threads only
add overhead (and contention on a shared machine). A module uses it with ``from threads import single_thread``."""

import pytest
import torch
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)
