"""TrainConfig validation, files and overrides; budget and MFU helpers."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.train import (
    TrainConfig,
    chinchilla,
    load_config,
    measure_matmul_flops,
    mfu,
    peak_flops,
)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("lr", 0.0, "(0.0, 1.0]"),
        ("lr", float("nan"), "lr"),
        ("warmup_frac", 0.9, "[0.0, 0.5]"),
        ("min_lr_ratio", -0.1, "min_lr_ratio"),
        ("beta2", 1.0, "beta2"),
        ("clip", 0.0, "clip"),
        ("steps", 0, ">= 1"),
        ("batch_size", 2.5, "of type int"),
        ("compile", 1, "of type bool"),
        ("d_model", 102, "multiple of n_heads"),
        ("n_kv_heads", 3, "divisor of n_heads"),
        ("dtype", "float16", "one of"),
        ("device", "tpu", "device"),
        ("data", "web", "'book', 'bytes' or 'manifests'"),
        ("resume", True, "out_dir"),
    ],
)
def test_bad_values_name_the_field_and_range(field: str, value: object, words: str):
    with pytest.raises(ValueError) as err:
        TrainConfig(**{field: value})
    assert f"TrainConfig.{field}=" in str(err.value)
    assert words in str(err.value)


def test_manifests_need_paths() -> None:
    with pytest.raises(ValueError, match="train_manifest"):
        TrainConfig(data="manifests")


def test_unknown_keys_are_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="unknown config field 'stepz'"):
        TrainConfig().with_overrides(["stepz=3"])


def test_overrides_parse_by_field_type() -> None:
    c = TrainConfig().with_overrides(
        ["lr=1e-3", "steps=7", "compile=true", "n_kv_heads=null", "out_dir=/tmp/x",
         "bytes_per_token=3.5", "n_heads=3", "d_model=96"]
    )
    assert (c.lr, c.steps, c.compile, c.n_kv_heads) == (1e-3, 7, True, None)
    assert (c.out_dir, c.bytes_per_token, c.n_heads) == ("/tmp/x", 3.5, 3)
    for bad, word in [("steps=many", "not a valid int"), ("lr", "key=value"),
                      ("compile=maybe", "not a valid bool")]:
        with pytest.raises(ValueError, match=word):
            TrainConfig().with_overrides([bad])
    with pytest.raises(ValueError, match="TrainConfig.lr"):
        TrainConfig().with_overrides(["lr=5"])  # parsed, then range-checked


def test_json_and_yaml_files(tmp_path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"steps": 5, "lr": 0.01}))
    (tmp_path / "b.yaml").write_text("steps: 6\ndtype: bfloat16\n")
    (tmp_path / "c.toml").write_text("steps = 6\n")
    assert load_config(tmp_path / "a.json").steps == 5
    assert load_config(tmp_path / "b.yaml").dtype == "bfloat16"
    with pytest.raises(ValueError, match=r"\.json, \.yaml"):
        load_config(tmp_path / "c.toml")
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.json")


@settings(derandomize=True, max_examples=50, deadline=None)
@given(
    steps=st.integers(1, 10**6),
    lr=st.floats(1e-6, 1.0),
    warmup=st.floats(0, 0.5),
    heads=st.sampled_from([1, 2, 4, 8]),
)
def test_dict_round_trip(steps: int, lr: float, warmup: float, heads: int) -> None:
    c = TrainConfig(steps=steps, lr=lr, warmup_frac=warmup, n_heads=heads, d_model=64)
    again = TrainConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c
    assert 0 <= c.warmup_steps <= steps
    assert (c.warmup_steps >= 1) == (warmup > 0)


def test_chinchilla_budget() -> None:
    b = chinchilla(params=124e6)
    assert b.tokens == pytest.approx(20 * 124e6)
    assert b.flops == pytest.approx(6 * 124e6 * 20 * 124e6)
    again = chinchilla(flops=b.flops)
    assert again.params == pytest.approx(124e6)
    assert again.tokens == pytest.approx(b.tokens)
    # Chinchilla itself: 70B parameters, 1.4T tokens, ~5.9e23 FLOPs
    assert chinchilla(params=70e9).tokens == pytest.approx(1.4e12)
    assert b.hours(tokens_per_second=b.tokens / 7200) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="exactly one"):
        chinchilla(flops=1e20, params=1e9)
    with pytest.raises(ValueError, match="tokens_per_second"):
        b.hours(0)


def test_peak_flops_table_and_mfu() -> None:
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12  # the specific entry wins
    assert peak_flops("NVIDIA H200", "float32") == 67e12
    assert peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops("Tesla V100-SXM2-16GB", "bfloat16") is None  # no bf16 cores
    assert peak_flops("cpu") is None and peak_flops("Mystery GPU 9000") is None
    assert mfu(1000.0, 1e9, None) is None
    assert mfu(1000.0, 1e9, 2e12) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        mfu(1.0, 1.0, 0.0)


def test_measured_matmul_flops_is_plausible() -> None:
    flops = measure_matmul_flops("cpu", size=256, repeats=3)
    assert math.isfinite(flops) and 1e7 < flops < 1e14


def test_the_chapter_anchor_applies_to_the_default_run_only(monkeypatch) -> None:
    from dataclasses import replace

    from llm_from_scratch.train import BOOK_ANCHOR, book_config, is_book_default
    from llm_from_scratch.train.pretrained import BOOK_CONFIG, FULL_CONFIG

    assert set(BOOK_ANCHOR) == {"val_bpb", "train_seconds"}
    # how book_checkpoint() stores it: bookkeeping fields differ, weights do not
    stored = replace(BOOK_CONFIG, out_dir="/tmp/x", resume=True, checkpoint_every=100)
    assert is_book_default(BOOK_CONFIG) and is_book_default(stored)
    assert not is_book_default(FULL_CONFIG)
    assert not is_book_default(replace(BOOK_CONFIG, lr=1e-3))
    monkeypatch.setenv("LLMFS_FULL", "1")
    assert not is_book_default(book_config())
    monkeypatch.delenv("LLMFS_FULL")
    assert is_book_default(book_config())
