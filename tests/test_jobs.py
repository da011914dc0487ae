"""Threads per job: parallel jobs share the cores instead of each taking all of them."""

import os

import torch

from aelab.jobs import set_threads


def test_parallel_jobs_share_the_cores_and_explicit_threads_win():
    before = torch.get_num_threads()
    try:
        assert set_threads(None, parallel_jobs=os.cpu_count() or 1) == 1
        assert set_threads(1, parallel_jobs=1) == 1
        torch.set_num_threads(before)
        assert set_threads(None, parallel_jobs=1) == before  # a lone job keeps the default
    finally:
        torch.set_num_threads(before)
