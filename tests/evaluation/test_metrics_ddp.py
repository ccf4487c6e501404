"""Real multi-process check: metrics synced by torch.distributed (gloo, 2 CPU ranks) equal one process."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("GUIDE_PL_SLOW") != "1", reason="spawns 2 processes; set GUIDE_PL_SLOW=1"),
]


def _data():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(40, 5, generator=g), torch.randn(30, 5, generator=g) * 2 + 1
    a, b = torch.randn(21, 8, generator=g), torch.randn(21, 8, generator=g)
    return real, fake, a, b, torch.rand(21, generator=g)


def _metrics(**kwargs):
    from guide_pl.evaluation.metrics import FrechetDistance, IdentitySimilarity, RecognitionRate

    return FrechetDistance(num_features=5, **kwargs), IdentitySimilarity(**kwargs), RecognitionRate(**kwargs)


def _rank(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        real, fake, a, b, d = _data()
        fd, ids, rr = _metrics()  # uneven shards: 20/20, 15/15, 11/10
        fd.update(real[rank::world], real=True)
        fd.update(fake[rank::world], real=False)
        ids.update(a[rank::world], b[rank::world])
        rr.update(d[rank::world])
        values = [fd.compute().item(), ids.compute().item(), rr.compute().item()]  # all ranks sync here
        queue.put((rank, values))
    finally:
        dist.destroy_process_group()


def test_ddp_sync_equals_single_process():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(r, 2, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    real, fake, a, b, d = _data()
    fd, ids, rr = _metrics()
    fd.update(real, real=True)
    fd.update(fake, real=False)
    ids.update(a, b)
    rr.update(d)
    expected = [fd.compute().item(), ids.compute().item(), rr.compute().item()]
    for rank in (0, 1):
        assert results[rank] == pytest.approx(expected, rel=1e-12, abs=1e-12)
