"""Loading models: sessions, old-style .bin checkpoints, the Hugging Face cache with no
network, and every kind of bad input giving one clear WorkbenchError."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from workbench.errors import WorkbenchError
from workbench.model import load_model, save_model
from workbench.model.toy import random_gpt
from workbench.templates import get_template
from workbench.tokenizer import ByteTokenizer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny") / "model"
    save_model(random_gpt(scale=0.3, seed=1), ByteTokenizer(), folder,
               template=get_template("alpaca"))
    return folder


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _logits(model, seed=0):
    ids = torch.randint(0, 257, (2, 10), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(ids)


def _error(spec, **kw) -> str:
    with pytest.raises(WorkbenchError) as info:
        load_model(spec, **kw)
    message = info.value.message
    assert "\n" not in message
    return message


# ----------------------------------------------------------------------------------------


def test_old_style_bin_without_prefix_and_with_mask_buffers_loads(tiny_folder, tmp_path):
    """The original `gpt2` weights: a pickled state dict, GPT2Model key names (no
    `transformer.`), `attn.bias` / `attn.masked_bias` buffers."""
    folder = _copy(tiny_folder, tmp_path / "old")
    state = load_file(folder / "model.safetensors")
    old = {k.removeprefix("transformer."): v for k, v in state.items()}
    old["h.0.attn.bias"] = torch.tril(torch.ones(1, 1, 64, 64))
    old["h.1.attn.masked_bias"] = torch.tensor(-1e4)
    (folder / "model.safetensors").unlink()
    torch.save(old, folder / "pytorch_model.bin")
    loaded = load_model(folder)
    assert loaded.info["weights"] == "pytorch_model.bin"
    torch.testing.assert_close(_logits(loaded.model), _logits(load_model(tiny_folder).model))


def test_session_specs_resolve_to_checkpoints(tiny_folder, tmp_path):
    sessions = tmp_path / "sessions"
    ck = sessions / "run1" / "checkpoints"
    _copy(tiny_folder, ck / "step-10")
    save_model(random_gpt(scale=0.3, seed=2), ByteTokenizer(), ck / "step-20",
               template=get_template("phi3"))
    (ck / "index.json").write_text(json.dumps({"latest": "step-20", "best": "step-10"}))
    latest = load_model("run1", sessions_dir=sessions)
    assert latest.source == "session:run1@step-20" and latest.template.name == "phi3"
    assert latest.info["kind"] == "session"
    assert load_model("run1@best", sessions_dir=sessions).source == "session:run1@step-10"
    assert load_model("session:run1@step-10", sessions_dir=sessions).template.name == "alpaca"
    assert "no session 'nope'" in _error("session:nope", sessions_dir=sessions)
    assert "step-99" in _error("run1@step-99", sessions_dir=sessions)


def test_hf_cache_loads_with_no_network(tiny_folder, tmp_path, monkeypatch):
    """HF_HUB_OFFLINE=1 and the files in an HF cache folder built here by hand."""
    import huggingface_hub.constants as hub

    cache = tmp_path / "hub"
    repo = cache / "models--wb-test--tiny-gpt2"
    _copy(tiny_folder, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    loaded = load_model("wb-test/tiny-gpt2")
    assert loaded.info["kind"] == "hub" and loaded.info["revision"] == COMMIT
    assert loaded.source == f"hub:wb-test/tiny-gpt2@{COMMIT[:12]}"
    assert loaded.template.name == "alpaca"
    torch.testing.assert_close(_logits(loaded.model), _logits(load_model(tiny_folder).model))
    assert load_model("wb-test/tiny-gpt2", revision=COMMIT).info["revision"] == COMMIT
    message = _error("wb-test/tiny-gpt2", revision="v2")  # a revision the cache lacks
    assert "wb-test/tiny-gpt2" in message and "HF cache" in message


def test_hub_id_without_network_says_how_to_load_it(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    message = _error("openai-community/gpt2")
    assert "model openai-community/gpt2" in message
    assert "local folder" in message and "HF_HUB_OFFLINE=1" in message


# ----------------------------------------------------------------------------------------
# Bad input: one line, naming the model or file and the problem.


def test_folder_without_weights(tiny_folder, tmp_path):
    folder = _copy(tiny_folder, tmp_path / "noweights")
    (folder / "model.safetensors").unlink()
    message = _error(folder)
    assert str(folder) in message and "no weights" in message


def test_folder_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no config.json" in _error(tmp_path / "empty")


def test_config_of_another_architecture(tiny_folder, tmp_path):
    folder = _copy(tiny_folder, tmp_path / "llama")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "llama"
    (folder / "config.json").write_text(json.dumps(config))
    assert "model_type llama: supported are gpt2 (GPT2LMHeadModel) and gpt_neo" in _error(folder)


def test_truncated_safetensors(tiny_folder, tmp_path):
    folder = _copy(tiny_folder, tmp_path / "cut")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    message = _error(folder)
    assert "model.safetensors" in message and "truncated or corrupt" in message


class _RunsCode:
    """Unpickling this calls os.system: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_bin_that_contains_code_is_refused_and_not_run(tiny_folder, tmp_path):
    folder = _copy(tiny_folder, tmp_path / "evil")
    marker = tmp_path / "it-ran"
    state = dict(load_file(folder / "model.safetensors"))
    state["payload"] = _RunsCode(marker)
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    message = _error(folder)
    assert "pytorch_model.bin" in message and "refused" in message
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # the guard is torch's weights_only
        torch.load(folder / "pytorch_model.bin", weights_only=True)
    assert not marker.exists()


def test_missing_and_unexpected_keys_are_named(tiny_folder, tmp_path):
    folder = _copy(tiny_folder, tmp_path / "keys")
    state = dict(load_file(folder / "model.safetensors"))
    del state["transformer.h.1.mlp.c_fc.bias"]
    state["transformer.h.0.attn.rotary.weight"] = torch.zeros(3)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    message = _error(folder)
    assert "missing transformer.h.1.mlp.c_fc.bias" in message
    assert "unexpected transformer.h.0.attn.rotary.weight" in message


def test_weights_of_the_wrong_shape_are_named(tiny_folder, tmp_path):
    folder = _copy(tiny_folder, tmp_path / "shape")
    config = json.loads((folder / "config.json").read_text())
    config["n_positions"] = config["n_ctx"] = 128
    (folder / "config.json").write_text(json.dumps(config))
    message = _error(folder)
    assert "wrong shape transformer.wpe.weight (64, 32) (config says (128, 32))" in message


def test_untied_head_and_unsupported_options_are_refused(tiny_folder, tmp_path):
    folder = _copy(tiny_folder, tmp_path / "untied")
    state = dict(load_file(folder / "model.safetensors"))
    state["lm_head.weight"] = torch.randn_like(state["transformer.wte.weight"])
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    assert "lm_head.weight differs" in _error(folder)
    config = json.loads((folder / "config.json").read_text())
    config["scale_attn_by_inverse_layer_idx"] = True
    (folder / "config.json").write_text(json.dumps(config))
    assert "scale_attn_by_inverse_layer_idx" in _error(folder)


def test_specs_that_name_nothing(tmp_path):
    assert "not a session" in _error("no such/thing@best", sessions_dir=tmp_path)
    assert "is a file" in _error(Path(__file__))
    assert "--revision applies to Hub ids only" in _error(tmp_path, revision="main")
    assert "unknown device" in _error(tmp_path, device="tpu")


def test_loads_in_parallel_threads_leave_weight_init_intact(tiny_folder):
    """The Chat screen loads base and SFT at once, in two threads. Loading skips the random
    init by patching torch's init functions for a moment; interleaved patches once left
    them as no-ops for good, and every model built afterwards started from uninitialised
    memory (a scripted model answered NUL bytes)."""
    import threading

    from torch.nn import init

    originals = {name: getattr(init, name) for name in ("normal_", "ones_", "zeros_")}
    reference = _logits(load_model(str(tiny_folder), device="cpu").model)
    errors: list[BaseException] = []

    def load():
        try:
            for _ in range(20):
                assert torch.equal(_logits(load_model(str(tiny_folder), device="cpu").model),
                                   reference)
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert {name: getattr(init, name) for name in originals} == originals
    layer = torch.nn.LayerNorm(8)  # built after the loads: its init ran
    assert torch.equal(layer.weight, torch.ones(8))
