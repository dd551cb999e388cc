import yaml

from umust_hf.model_card import MetricResult, write_model_card
from umust_hf.modeling.configuration_umust import UMustConfig
from umust_hf.training.recipe import Recipe


def test_model_card_has_hub_metadata_and_measured_values(tmp_path):
    recipe = Recipe.from_dict({
        "name": "test_i2a", "model_preset": "tiny", "description": "a test",
        "curriculum": [{"task": "omr"}, {"task": "m2a", "start_step": 90}, {"task": "i2a", "start_step": 300, "full_step": 400}],
    })
    metrics = [
        MetricResult("omr", "SER", 41.25, baseline=88.5, baseline_name="most frequent sequence", lower_is_better=True),
        MetricResult("m2a", "FAD", 3.5),
    ]
    path = write_model_card(tmp_path, name="umust-i2a", path="umust-i2a", recipe=recipe,
                            config=UMustConfig.from_preset("tiny"), num_parameters=1_234_567, metrics=metrics,
                            steps=600, training_time="3 min on 2 CPU cores")
    text = path.read_text()
    assert text.startswith("---\n") and "$" not in text.replace("$$", "")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["license"] == "mit" and "u-must" in front["tags"]
    results = front["model-index"][0]["results"]
    assert [r["task"]["type"] for r in results] == ["omr", "m2a"]
    assert results[0]["metrics"][0] == {"type": "ser", "name": "SER", "value": 41.25}
    assert "| omr | SER ↓ | 41.25 | 88.5 (most frequent sequence) |" in text
    assert "omr: 0, m2a: 90, i2a: 300→400" in text and "1.2 M parameters" in text
