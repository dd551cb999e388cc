import json

import pytest
from datasets import DatasetDict

from umust_hf.cli import main
from umust_hf.modeling.modeling_umust import UMustForConditionalGeneration

from umust_hf.vocabulary import UnifiedVocabulary

from helpers import task_dataset


def test_train_command_trains_saves_and_resumes(tmp_path, capsys):
    data = DatasetDict({"train": task_dataset(UnifiedVocabulary(), per_task=3)})
    data.save_to_disk(str(tmp_path / "data"))
    args = ["train", "--recipe", "demo_i2a", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
            "--max-steps", "2", "--batch-size", "2"]
    assert main(args) == 0
    assert "trained demo_i2a for 2 steps" in capsys.readouterr().out
    model = UMustForConditionalGeneration.from_pretrained(tmp_path / "run")
    assert model.config.d_model == 96  # the recipe's tiny preset
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["name"] == "demo_i2a"
    # a second run with more steps resumes from the saved checkpoint instead of starting over
    assert main([*args[:-4], "--max-steps", "3", "--batch-size", "2"]) == 0
    state = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--recipe", "nope", "--data", "x", "--out", "y"], "unknown recipe 'nope'"),
        (["--recipe", "i2a", "--data", "/no/such/dir", "--out", "y"], "is not a DatasetDict saved with save_to_disk"),
    ],
)
def test_train_command_errors(argv, message, capsys):
    assert main(["train", *argv]) == 2
    assert message in capsys.readouterr().err
