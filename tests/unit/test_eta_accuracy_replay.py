"""The ETA accuracy replay (lastmile.bench.eta_accuracy): the job's steps, interval by interval, on a small city."""
from lastmile.bench import eta_accuracy


def test_the_replay_judges_both_models_on_the_same_predictions_and_repeats_itself():
    first = eta_accuracy.run(city="munich", partners=2, tasks_per_day=400, seed=3, learn_days=1)
    assert first["predictions"] > 1_000 and first["shipments_evaluated"] > 100
    assert first["eta_updates_emitted"] > first["shipments_evaluated"]  # updates as the vans move
    assert sum(b["predictions"] for b in first["by_horizon"]) == first["predictions"]
    assert sum(a["predictions"] for a in first["by_area"]) == first["predictions"]
    assert first["naive_mae_min"] > 0 and first["learned_mae_min"] > 0
    # the same plan through the same steps: the same figures (nothing depends on dict or arrival order)
    assert eta_accuracy.run(city="munich", partners=2, tasks_per_day=400, seed=3, learn_days=1) == first
