"""Checkpoint files: GPU-saved ones load on CPU, float32 into float64, bad files are one clear line."""

from pathlib import Path

import pytest
import torch

from sepm.errors import InputError
from sepm.models import build_model
from sepm.models.checkpoint import load_model_checkpoint, read_checkpoint

DATA = Path(__file__).parent / "data" / "deeppseudopot"
CUDA_SAVED = DATA / "test_ham_cdse_epoch199" / "epoch_199_PPmodel.pth"  # DeepPseudopot test_ham/epoch_199_PPmodel.pth, saved on a GPU


def test_cuda_saved_checkpoint_needs_the_device_map():
    if torch.cuda.is_available():
        pytest.skip("the failure without a map only shows on a machine without CUDA")
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(CUDA_SAVED, weights_only=True)
    state = read_checkpoint(CUDA_SAVED, "cpu")
    assert {v.device.type for v in state.values()} == {"cpu"}
    assert {v.dtype for v in state.values()} == {torch.float32}


def test_cuda_saved_float32_checkpoint_loads_into_float64_model():
    model = load_model_checkpoint(build_model("Net_relu_xavier_decay2", [20, 20, 20], 2), CUDA_SAVED)
    raw = read_checkpoint(CUDA_SAVED)
    for key, value in model.state_dict().items():
        assert value.dtype == torch.float64 and value.device.type == "cpu"
        assert torch.equal(value, raw[key].double())


def test_bad_checkpoints_are_one_line(tmp_path):
    junk = tmp_path / "init_PPmodel.pth"
    junk.write_text("not a checkpoint\n")
    with pytest.raises(InputError) as err:
        load_model_checkpoint(build_model("Net_relu_xavier_decay2", [20, 20, 20], 2), junk)
    assert str(err.value).startswith(f"{junk}: cannot read this model checkpoint") and "\n" not in str(err.value)
    with pytest.raises(InputError, match=r"epoch_199_PPmodel.pth: state_dict does not fit .*1-8-2.*unexpected key 'neural_network.hidden_l.2.weight'"):
        load_model_checkpoint(build_model("Net_relu_xavier_decay2", [8], 2), CUDA_SAVED)
    with pytest.raises(InputError, match="missing.pth: model checkpoint not found"):
        load_model_checkpoint(build_model("Net_relu_xavier_decay2", [8], 2), tmp_path / "missing.pth")


class _Call:
    def __reduce__(self):
        import os

        return (os.getpid, ())


def test_unreadable_checkpoints_say_what_is_wrong_and_what_to_do(tmp_path):
    state = tmp_path / "train_state.pth"
    torch.save({"epoch": torch.tensor(3)}, state)
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(InputError) as err:
        read_checkpoint(state, what="training state")
    assert str(err.value) == (f"{state}: cannot read this training state: it is truncated or not a torch.save file "
                              "of tensors; delete it to start this training over (its epochs are lost)")
    code = tmp_path / "init_PPmodel.pth"
    torch.save({"weight": _Call()}, code)
    with pytest.raises(InputError) as err:
        read_checkpoint(code, what="model checkpoint")
    text = str(err.value)
    assert text.startswith(f"{code}: cannot read this model checkpoint: it refers to the Python object posix.getpid, "
                           "not only tensors (loading it could run code); replace it")
    assert "weights_only" not in text and "\n" not in text
