"""Device rewards equal the host reference on random completions of mixed tasks, for every configuration; `score`."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import rewards_jit
from rewards_strategies import SLOW_DRAWS, completion, grid_value
from tempr1_jax.rewards import RewardConfig, TASKS, completion_text, ground_truth_arrays, reference, score


B, T = 16, 320
# Endpoints and ground truth on a binary grid are exact in float32: what remains is float32 arithmetic.
ATOL = 1e-5

# The defaults, and every option changed at once (each configuration costs a compilation).
CONFIGS = [
    RewardConfig(),
    RewardConfig(think_required=True, tg_variant="distance_weighted_iou", tal_matching="index", tal_count=False,
                 sigma=2.0, format_weight=0.5, localization_weight=2.0, classification_weight=3.0),
]


@st.composite
def target(draw, task):
    n = 1 if task == "tg" else draw(st.integers(0 if task != "tg" else 1, 6))
    intervals = sorted(sorted([draw(grid_value), draw(grid_value)]) for _ in range(n))
    return {"intervals": intervals, "duration": draw(st.sampled_from([0.0, 30.0, 4096.0])),
            "answer": draw(st.integers(0, 4))}


batch = st.lists(st.sampled_from(TASKS), min_size=B, max_size=B).flatmap(
    lambda tasks: st.tuples(st.just(tasks), st.tuples(*[st.tuples(completion(t), target(t)) for t in tasks]))
)


@pytest.mark.parametrize("cfg", CONFIGS, ids=range(len(CONFIGS)))
@settings(max_examples=8, deadline=None, database=None, derandomize=True, suppress_health_check=SLOW_DRAWS)
@given(batch)
def test_device_rewards_equal_reference(setup, cfg, tasks_cases):
    tasks, cases = tasks_cases
    texts, targets = zip(*cases)
    ids, lengths = setup.batch([setup.encode(t) + [setup.end_id] for t in texts], T)
    task_ids = np.array([TASKS.index(t) for t in tasks], np.int32)
    out = rewards_jit(setup.tables, ids, lengths, task_ids, **ground_truth_arrays(targets), cfg=cfg)
    for k, task in enumerate(tasks):
        text = completion_text(setup.tokenizer, setup.vocab, ids[k, : lengths[k]])
        host = reference.rewards(task, text, targets[k], cfg)
        for key in ("format", "localization", "classification", "total"):
            assert abs(float(out[key][k]) - host[key]) <= ATOL * max(1.0, abs(host[key])), (key, task, text, targets[k])
        assert int(out["count"][k]) == host["count"]


def test_score_api():
    completions = [
        "<think>the cup</think><answer>1 to 3</answer>",
        "<answer>B</answer><evidence>2 to 4</evidence>",
        "no answer at all",
    ]
    out = score("gvqa", completions, [{"intervals": [[2, 4]], "answer": 1}] * 3)
    assert set(out) >= {"format", "localization", "classification", "total"}
    assert all(v.shape == (3,) for v in out.values())
    np.testing.assert_allclose(out["format"], [0, 1, 0])
    np.testing.assert_allclose(out["classification"], [0, 1, 0])
    np.testing.assert_allclose(out["total"], [0, 3, 0])
    tg = score("tg", completions[:1], [{"intervals": [[0, 2]], "duration": 10}])
    np.testing.assert_allclose(tg["localization"], [1 / 3], atol=1e-6)
    weighted = score("tg", completions[:1], [{"intervals": [[0, 2]], "duration": 10}],
                     RewardConfig(tg_variant="distance_weighted_iou"))
    np.testing.assert_allclose(weighted["localization"], [1 / 3 * 0.9 * 0.9], atol=1e-6)
    assert score("tal", [], [])["total"].shape == (0,)


@pytest.mark.parametrize("bad", [
    dict(task="nope", targets=[{"intervals": []}]),
    dict(task="gvqa", targets=[{"intervals": [[0, 1]]}]),  # no answer
    dict(task="vhd", targets=[{"intervals": [[2, 1]]}]),
    dict(task="vhd", targets=[{"intervals": [[0, 1]] * 33}]),
    dict(task="vhd", targets=[]),
])
def test_score_rejects_bad_targets(bad):
    with pytest.raises(ValueError):
        score(bad["task"], ["<answer>0 to 1</answer>"], bad["targets"])


def test_config_validation():
    for bad in [dict(tg_variant="giou"), dict(tal_matching="hungarian"), dict(sigma=0.0)]:
        with pytest.raises(ValueError):
            RewardConfig(**bad)
