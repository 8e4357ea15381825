"""A Mapper inside a distributed engine: pickled without the key, run by dask's workers, each
reading its own environment (here NVIDIA_BASE_URL pointing at the local server)."""

from __future__ import annotations

import pickle

import cloudpickle
import pandas as pd
import pytest

import nvnb
from nvnb.errors import InvalidInputError
from nvnb.server import LocalServer

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

SECRET = "nvapi-" + "s3cr3t" * 10


def test_a_mapper_pickles_without_any_key(monkeypatch) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", SECRET)
    mapper = nvnb.mapper("Label: {review}", model="meta/llama-3.1-8b-instruct", max_tokens=8)
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        data = dumps(mapper)
        assert SECRET.encode() not in data and b"nvapi-" not in data
        assert loads(data).options == mapper.options
    assert "nvapi" not in repr(mapper)


def test_a_mapper_refuses_a_client_that_would_carry_the_key() -> None:
    with pytest.raises(InvalidInputError, match="no client"):
        nvnb.mapper("{x}", client=object())


def test_map_partitions_on_a_local_cluster_labels_every_row_once(
    nvnb_server: LocalServer, monkeypatch
) -> None:
    # The workers are processes started now: they inherit this environment, not our objects.
    monkeypatch.setenv("NVIDIA_BASE_URL", nvnb_server.base_url)
    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    monkeypatch.setenv("NVNB_PROGRESS", "off")
    frame = pd.DataFrame({"id": range(24), "review": [f"review number {i}" for i in range(24)]})
    ddf = dd.from_pandas(frame, npartitions=4)
    mapper = nvnb.mapper("Label: {review}", max_tokens=80)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        labelled = ddf.map_partitions(mapper, meta=mapper.meta(frame))
        out = labelled.compute()
        workers = client.run(lambda: __import__("os").getpid())
    assert len(workers) == 2
    out = out.sort_values("id")
    assert list(out["id"]) == list(range(24))
    assert out["error"].isna().all()
    assert all(f"review number {i}" in t for i, t in zip(out["id"], out["text"], strict=True))
    prompts = [r.json["messages"][-1]["content"] for r in nvnb_server.requests]
    assert sorted(prompts) == sorted(f"Label: review number {i}" for i in range(24))
