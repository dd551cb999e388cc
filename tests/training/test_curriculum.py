import collections
import json

import pytest

from umust_hf.data.tasks import REPORT_ORDER, TASKS, get_task, task_for
from umust_hf.training.curriculum import Curriculum, TaskSchedule
from umust_hf.training.recipe import available_recipes, load_recipe
from umust_hf.training.sampling import CurriculumSampler
from umust_hf.vocabulary import Modality


def test_tasks_cover_both_directions():
    assert {t.name for t in TASKS.values() if t.direction == "i2a"} == {"omr", "m2a", "i2a"}
    assert {t.name for t in TASKS.values() if t.direction == "a2i"} == {"amt", "l2i", "a2i"}
    assert task_for("image", "lmx").name == "omr"
    assert get_task("amt").target is Modality.MIDI
    with pytest.raises(ValueError, match="no U-MUST task translates midi into image"):
        task_for("midi", "image")


def test_report_order_names_every_task_once():
    assert sorted(REPORT_ORDER) == sorted(TASKS) and len(set(REPORT_ORDER)) == len(REPORT_ORDER)
    # the two readers come first in every table
    assert REPORT_ORDER[:2] == ("omr", "amt")


def test_hard_introduction_and_linear_ramp():
    hard = TaskSchedule("i2a", start_step=50)
    assert hard.weight_at(49) == 0 and hard.weight_at(50) == 1 and hard.weight_at(10_000) == 1
    ramp = TaskSchedule("m2a", start_step=10, full_step=19, weight=2.0)
    weights = [ramp.weight_at(s) for s in range(8, 22)]
    assert weights[:2] == [0, 0]
    assert weights[2] == pytest.approx(2.0 / 10)  # first step of the ramp
    assert weights[6] == pytest.approx(2.0 * 5 / 10)
    assert weights[11:] == [2.0, 2.0, 2.0]
    assert all(a <= b for a, b in zip(weights, weights[1:]))


def test_curriculum_probabilities_follow_table_11():
    curriculum = load_recipe("i2a").curriculum
    assert curriculum.active_tasks(0) == ("omr",)
    assert curriculum.active_tasks(15_000) == ("omr", "m2a")
    assert curriculum.probabilities_at(60_000) == pytest.approx({"omr": 1 / 3, "m2a": 1 / 3, "i2a": 1 / 3})
    assert curriculum.change_steps() == (0, 15_000, 50_000)
    a2i = load_recipe("a2i").curriculum
    assert [s.start_step for s in a2i.schedules] == [0, 40_000, 70_000]
    assert a2i.scaled(0.01).change_steps() == (0, 400, 700)


def test_bad_curricula_are_rejected_with_reasons():
    with pytest.raises(ValueError, match="unknown task 'ocr'"):
        TaskSchedule("ocr")
    with pytest.raises(ValueError, match="must start at step 0"):
        Curriculum((TaskSchedule("omr", 5),))
    with pytest.raises(ValueError, match="appears twice"):
        Curriculum((TaskSchedule("omr"), TaskSchedule("omr")))
    with pytest.raises(ValueError, match="full_step 3 comes before start_step 5"):
        TaskSchedule("amt", 5, 3)


def test_every_shipped_recipe_loads_and_round_trips(tmp_path):
    names = available_recipes()
    for expected in ("omr_only", "i2a_only", "m2a_only", "omr_i2a", "i2a", "i2a_ramp", "amt_only",
                     "a2i_only", "amt_a2i", "a2i", "all_six", "demo_i2a", "demo_a2i"):
        assert expected in names
    for name in names:
        recipe = load_recipe(name)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(recipe.to_dict()))
        assert load_recipe(path) == recipe
    assert set(load_recipe("all_six").curriculum.tasks) == set(TASKS)
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        load_recipe("nope")
    (tmp_path / "bad.json").write_text('{"name": "x", "model_preset": "tiny", "curriculum": [{"task": "omr", "start_step": 3}]}')
    with pytest.raises(ValueError, match="bad.json: bad curriculum"):
        load_recipe(tmp_path / "bad.json")


def test_sampler_switches_tasks_at_the_configured_step():
    tasks = ["omr"] * 30 + ["m2a"] * 20 + ["i2a"] * 10
    curriculum = Curriculum((TaskSchedule("omr"), TaskSchedule("m2a", 3), TaskSchedule("i2a", 6)))
    sampler = CurriculumSampler(tasks, curriculum, samples_per_step=8, num_samples=8 * 40, seed=1)
    draws = list(sampler)
    assert len(draws) == len(sampler) == 320
    per_step = [collections.Counter(tasks[i] for i in draws[s * 8 : (s + 1) * 8]) for s in range(40)]
    assert all(set(c) == {"omr"} for c in per_step[:3])
    assert all(set(c) <= {"omr", "m2a"} for c in per_step[3:6])
    assert sum(c["m2a"] for c in per_step[3:6]) > 0
    later = sum(per_step[6:], collections.Counter())
    assert later["i2a"] > 0.2 * sum(later.values())
    # deterministic: same seed and epoch, same draws; another epoch differs
    assert list(sampler) == draws
    sampler.set_epoch(1)
    assert list(sampler) != draws


def test_sampler_rejects_missing_tasks():
    with pytest.raises(ValueError, match=r"needs task\(s\) \['i2a'\] but the dataset has none"):
        CurriculumSampler(["omr"], Curriculum((TaskSchedule("omr"), TaskSchedule("i2a", 1))),
                          samples_per_step=1, num_samples=1)
